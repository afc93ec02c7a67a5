"""The console frontend: prints what the bot would post and saves result files to a folder."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.commands.help import help_text
from bot.commands.parse import ParsedCommand, UsageError, parse
from bot.frontends.render import Message, render_error
from bot.jobs.engine import JobEngine, Submission
from bot.jobs.queue import UserLimitReached
from bot.jobs.store import Job, JobState
from bot.settings import BotSettings
from spotrun.protocol import COMMANDS

if TYPE_CHECKING:
    from bot.commands.catalog import Catalog

CONSOLE_USER = "console"
PROMPT = "spotrun> "


class ConsoleFrontend:
    name = "console"

    def __init__(self, out: TextIO, output_dir: Path) -> None:
        self.out = out
        self.output_dir = output_dir

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def show_status(self, job: Job, text: str, *, active: bool) -> str | None:
        if not active and job.state in (JobState.SUCCEEDED, JobState.FAILED):
            # On Discord the status message is edited to its final state; here a line would
            # arrive after the printed result or error, which already is the last word.
            return None
        self._print(f"[{job.id}] {text}")
        return None

    async def post_result(self, job: Job, messages: list[Message]) -> str | None:
        for message in messages:
            self._print(f"[{job.id}] result:\n{message.as_text()}")
            for f in message.files:
                self.output_dir.mkdir(parents=True, exist_ok=True)
                path = self.output_dir / f"{job.id}-{f.name}"
                path.write_bytes(f.data)
                self._print(f"[{job.id}] saved {path}")
        return None

    async def show_result(self, job: Job, status: str, messages: list[Message]) -> str | None:
        await self.show_status(job, status, active=False)
        return await self.post_result(job, messages)

    async def show_error(self, job: Job, text: str) -> str | None:
        self._print(f"[{job.id}] error:\n{render_error(text, job_id=job.id).as_text()}")
        return None


async def run_console(
    engine: JobEngine, settings: BotSettings, stdin: TextIO, out: TextIO, catalog: Catalog | None = None
) -> int:
    """Read commands line by line; at EOF wait for every submitted job, then return 0.
    `catalog`: the commands from the agents' manifests (default: the protocol's built-ins)."""
    from bot.router.console import console_router, route_line  # the router imports the catalog

    prefix = settings.command_prefix
    specs = catalog.specs() if catalog is not None else COMMANDS
    router = console_router(specs, catalog)
    pending: list[str] = []

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    # A person at a terminal gets a greeting and a prompt; a pipe or a script gets neither.
    interactive = stdin.isatty()
    if interactive:
        say(f"spotrun console — type {prefix}help; end with Ctrl-D")
    while True:
        if interactive:
            out.write(PROMPT)
            out.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        routed: ParsedCommand | None = None
        if not line.startswith(prefix):
            # Plain words: the same router as a mention of the bot (docs/routing.md).
            said, routed = route_line(router, line, prefix, settings.max_input_bytes)
            say(said)
            if routed is None:
                continue
        name, _, rest = line[len(prefix) :].partition(" ") if routed is None else (routed.command, "", "")
        name = name.lower()
        if name == "help":
            say(help_text(prefix, specs))
        elif name == "jobs":
            for job in await engine.store.user_jobs(CONSOLE_USER):
                say(f"{job.id}  {job.command:<15} {job.state.value}")
        elif name == "cancel":
            say(
                await engine.cancel(rest.strip(), by="console")
                if rest.strip()
                else f"usage: {prefix}cancel <job>"
            )
        elif name == "monitor":
            say("monitors post to a Discord channel on a schedule; they need the Discord bot")
        else:
            try:
                parsed = routed or parse(
                    name,
                    rest,
                    local_files=True,
                    max_file_bytes=settings.max_input_bytes,
                    prefix=prefix,
                    specs=specs,
                )
                job, _ = await engine.submit(
                    Submission(
                        command=parsed.command,
                        args=parsed.args.model_dump(mode="json"),
                        files=parsed.files,
                        user_id=CONSOLE_USER,
                        frontend="console",
                    )
                )
            except (UsageError, UserLimitReached) as exc:
                say(str(exc))
                continue
            pending.append(job.id)
    for job_id in pending:
        await engine.wait(job_id)
    return 0
