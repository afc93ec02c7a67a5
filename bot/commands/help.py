"""The help text: every command with its usage and an example, from the protocol's command table."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.commands.parse import slash_example, slash_usage
from spotrun.protocol import COMMANDS, CommandSpec

JOB_COMMANDS = (
    ("jobs", "jobs", "Your recent jobs and their state"),
    ("cancel", "cancel <job>", "Cancel a queued or running job (yours; admins: any)"),
    (
        "monitor",
        "monitor <url> [30s|10m|2h|1d] [selector=<css>] [ignore=<text or /regex/>] · monitor list · "
        "monitor remove <id>",
        "Watch a page (or part of it) and post here, with a short diff, when it changes",
    ),
    ("help", "help", "This list"),
)


def help_lines(
    prefix: str = "!",
    *,
    local_files: bool = False,
    slash: bool = False,
    specs: Mapping[str, CommandSpec] = COMMANDS,
) -> list[tuple[str, str]]:
    """(heading, body) pairs; the Discord help packs them into embed fields, the console prints them.
    `local_files`: the console, where a file is a path on the command line, not an attachment;
    `slash`: the forms a `/help` user types (`/tts text:<text>`); `specs`: the commands, from the
    agents' manifests (the bot's catalog)."""
    lead = "/" if slash else prefix
    lines = []
    for spec in specs.values():
        if slash:
            usage, example = slash_usage(spec), slash_example(spec)
        else:
            usage, example = f"{prefix}{spec.usage}", prefix + spec.example.removeprefix("!")
        if local_files:
            usage, example = _with_paths(usage), _with_paths(example)
        lines.append((f"{lead}{spec.usage.split(' ')[0]} — {spec.summary}", f"`{usage}`\ne.g. `{example}`"))
    lines += [(f"{lead}{name} — {summary}", f"`{lead}{usage}`") for name, usage, summary in JOB_COMMANDS]
    return lines


_ATTACHED = re.compile(r"\s*\(with (?:an? )?(?P<what>.+?) attached\)")
_NAMED = {"image": "photo.png"}


def _with_paths(text: str) -> str:
    """ "+ image attachment" -> "<path to an image>"; "(with sales.csv attached)" -> "sales.csv"."""
    text = re.sub(r"\+ (?P<what>.+?)(?: attachment)?$", r"<path to the \g<what>>", text)
    return _ATTACHED.sub(lambda m: " " + _NAMED.get(m["what"], m["what"]), text)


CONSOLE_FILES = (
    "Files: name a local file anywhere in the command — `{p}analyze ~/data/sales.csv` — or, for a path "
    'with spaces, quote it as `file="my clip.wav"`: `{p}convert mp3 file="my clip.wav"`. '
    "Results are printed here; result files are saved to the --output folder."
)


def help_text(prefix: str = "!", specs: Mapping[str, CommandSpec] = COMMANDS) -> str:
    """The console's help: paths instead of attachments, and how to pass one."""
    body = "\n".join(
        f"{head}\n    {body.replace(chr(10), chr(10) + '    ')}"
        for head, body in help_lines(prefix, local_files=True, specs=specs)
    )
    return f"{body}\n\n{CONSOLE_FILES.format(p=prefix)}".replace("`", "")
