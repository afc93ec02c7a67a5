"""Command text ("!tts hello voice=en") or slash options -> the protocol's validated args model."""

from __future__ import annotations

import re
import shlex
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from spotrun.protocol import COMMANDS, Command, CommandArgs, CommandSpec, InputFile

_KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$", re.S)
_PLACEHOLDER = re.compile(r"<[^>]+>")

# File extensions -> content types, for local paths (console) and attachments without a type.
_TYPES = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".parquet": "application/vnd.apache.parquet",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/opus",
    ".flac": "audio/flac",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}


class UsageError(Exception):
    """The user's arguments don't fit the command; the message ends with its usage and an example."""

    def __init__(self, spec: CommandSpec | None, problem: str, prefix: str = "!") -> None:
        self.spec = spec
        self.problem = problem
        text = problem
        if spec is not None:
            text += f"\nusage: `{prefix}{spec.usage}`\nexample: `{spec.example}`"
        super().__init__(text)


@dataclass
class ParsedCommand:
    command: Command
    args: CommandArgs
    files: list[InputFile] = field(default_factory=list)

    @property
    def spec(self) -> CommandSpec:
        return COMMANDS[self.command]


def positional_fields(spec: CommandSpec) -> list[str]:
    """The usage line's <placeholders> name the leading fields of the args model, in order."""
    count = len(_PLACEHOLDER.findall(spec.usage.split("+")[0]))
    return list(spec.args.model_fields)[:count]


def guess_content_type(name: str, declared: str | None = None) -> str:
    if declared and declared != "application/octet-stream":
        return declared.split(";")[0].strip()
    return _TYPES.get(Path(name).suffix.lower(), declared or "application/octet-stream")


def check_file(spec: CommandSpec, f: InputFile, max_bytes: int, prefix: str = "!") -> InputFile:
    if len(f.data) > max_bytes:
        raise UsageError(
            spec,
            f"{f.name} is {len(f.data) / 1048576:.1f} MiB; the limit is {max_bytes / 1048576:.0f} MiB",
            prefix,
        )
    if spec.file_kinds and not f.content_type.startswith(spec.file_kinds):
        raise UsageError(
            spec,
            f"{f.name} is {f.content_type}; {spec.command.value} takes {', '.join(spec.file_kinds)}",
            prefix,
        )
    return f


def tokenize(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        # An apostrophe in free text ("don't") is not a quoting mistake: fall back to words.
        return text.split()


def parse(
    name: str,
    text: str,
    files: list[InputFile] | None = None,
    *,
    max_file_bytes: int = 25 * 1024 * 1024,
    local_files: bool = False,
    prefix: str = "!",
) -> ParsedCommand:
    """Parse the text after the command name. `local_files`: a token naming a file attaches it."""
    try:
        command = Command(name.lower())
    except ValueError:
        raise UsageError(None, f"unknown command `{name}`; try `{prefix}help`") from None
    spec = COMMANDS[command]
    files = list(files or [])
    model_fields = spec.args.model_fields
    positional = positional_fields(spec)
    raw: dict[str, Any] = {}
    free: list[str] = []
    for token in tokenize(text):
        m = _KEY_VALUE.match(token)
        key = m.group(1).replace("-", "_") if m else None
        if m and key in model_fields:
            raw[key] = m.group(2)
        elif m and key == "file" and local_files:
            files.append(_local_file(spec, m.group(2), prefix))
        elif local_files and _looks_like_file(token):
            files.append(_local_file(spec, token, prefix))
        elif m and not positional:
            raise UsageError(spec, f"unknown option `{m.group(1)}`", prefix)
        else:
            free.append(token)
    unfilled = [p for p in positional if p not in raw]
    if free and not unfilled:
        raise UsageError(spec, f"unexpected `{' '.join(free)}`", prefix)
    # Leading placeholders take one word each; the last takes the rest (a prompt, a text).
    for i, name_ in enumerate(unfilled):
        if not free:
            break
        raw[name_] = " ".join(free) if i == len(unfilled) - 1 else free.pop(0)
        if i == len(unfilled) - 1:
            free = []
    raw = {k: _coerce(model_fields[k].annotation, v) for k, v in raw.items()}
    try:
        args = spec.args.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(spec, describe_validation(exc), prefix) from None
    if spec.needs_file and not files:
        raise UsageError(spec, f"`{command.value}` needs an attached file", prefix)
    checked = [check_file(spec, f, max_file_bytes, prefix) for f in files[:4]]
    return ParsedCommand(command, args, checked if spec.needs_file or spec.file_kinds else [])


def describe_validation(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "missing":
            problems.append(f"`{where}` is required")
        elif err["type"] == "extra_forbidden":
            problems.append(f"unknown option `{where}`")
        else:
            problems.append(f"`{where}`: {err['msg']}")
    return "; ".join(problems)


def _coerce(annotation: Any, value: str) -> Any:
    """Text -> what the field wants where pydantic's lax mode won't: int literals, comma lists."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value) if len(inner) == 1 else value
    if origin is typing.Literal and all(isinstance(a, int) for a in args) and value.lstrip("-").isdigit():
        return int(value)
    if origin is list:
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def _looks_like_file(token: str) -> bool:
    p = Path(token).expanduser()
    return ("/" in token or "." in token) and not token.startswith(("http://", "https://")) and p.is_file()


def _local_file(spec: CommandSpec, path: str, prefix: str) -> InputFile:
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(spec, f"cannot read {path}: {exc.strerror}", prefix) from None
    return InputFile(name=p.name, content_type=guess_content_type(p.name), data=data)
