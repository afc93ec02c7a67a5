"""Plain-language lines in the console (`spotrun dev --console`): the offline router, with local
file paths named in the line standing in for attachments."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.commands.catalog import Catalog
from bot.commands.parse import ParsedCommand, UsageError, guess_content_type, parse_options
from bot.router import routables
from bot.router.extract import FileInfo
from bot.router.offline import OfflineRouter
from bot.router.readings import Routable
from bot.router.start import header_of
from spotrun.protocol import CommandSpec, InputFile


def console_router(specs: Mapping[str, CommandSpec], catalog: Catalog | None) -> OfflineRouter:
    commands = (
        routables(catalog)
        if catalog is not None
        else [Routable(s, s.args.model_json_schema()) for s in specs.values()]
    )
    return OfflineRouter(commands)


def _local_files(line: str, max_bytes: int) -> tuple[str, list[InputFile], list[FileInfo]]:
    words, files, infos = [], [], []
    for token in line.split():
        path = Path(token).expanduser()
        if (
            ("/" in token or "." in token)
            and not token.startswith(("http://", "https://"))
            and path.is_file()
        ):
            data = path.read_bytes()[: max_bytes + 1]
            ctype = guess_content_type(path.name)
            files.append(InputFile(name=path.name, content_type=ctype, data=data))
            infos.append(FileInfo(path.name, ctype, len(data), tuple(header_of(data))))
        else:
            words.append(token)
    return " ".join(words), files, infos


def route_line(
    router: OfflineRouter, line: str, prefix: str, max_bytes: int
) -> tuple[str, ParsedCommand | None]:
    """What to print, and the command to submit when the reading is clear and valid."""
    text, files, infos = _local_files(line, max_bytes)
    decision = router.route(text, infos, prefix)
    top = decision.top
    if decision.outcome == "run" and top is not None:
        spec = router.commands[top.command].spec
        try:
            parsed = parse_options(spec, top.args, files, max_file_bytes=max_bytes)
        except UsageError as exc:
            return f"→ {top.line} — {exc.problem}", None
        return f"→ {top.line}", parsed
    if decision.outcome == "need" and top is not None:
        return f"→ {top.line} — {top.problem}", None
    if decision.outcome == "choose":
        lines = "\n".join(f"  {r.line}" for r in decision.readings)
        return f"did you mean one of these? type it to run it:\n{lines}", None
    names = ", ".join(f"{prefix}{n}" for n in sorted(router.commands))
    return f"I don't know how to do that yet; I can: {names} — try {prefix}help", None
