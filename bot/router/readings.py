"""What a router answers: readings of a request (command + validated arguments) and a decision."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from bot.commands.parse import _coerce, describe_validation
from bot.router.extract import FileInfo
from spotrun.protocol import CommandArgs, CommandSpec

Outcome = Literal["run", "choose", "need", "none"]


@dataclass(frozen=True)
class Routable:
    """A command as the router sees it: the bot's spec and the manifest's JSON Schema (whose x-
    hints a schema-rebuilt model does not keep)."""

    spec: CommandSpec
    schema: Mapping[str, Any]


@dataclass
class Reading:
    command: str
    args: dict[str, Any]  # validated, JSON-ready (the Submission's args)
    score: float
    line: str = ""  # how a user would have typed it: "!chart bar x=month y=revenue"
    problem: str | None = None  # why it cannot run as it is (a missing file, a missing URL)


@dataclass
class Decision:
    outcome: Outcome
    readings: list[Reading] = field(default_factory=list)
    router: str = "offline"
    cost_usd: float = 0.0
    note: str = ""  # e.g. why the LLM router fell back to the offline one

    @property
    def top(self) -> Reading | None:
        return self.readings[0] if self.readings else None


def validate(
    spec: CommandSpec, raw: Mapping[str, Any], files: list[FileInfo]
) -> tuple[CommandArgs | None, str | None]:
    """The same typed model as `!x`: (args, None) or (None, what is wrong in a user's words)."""
    fields = spec.args.model_fields
    coerced = {
        k: _coerce(fields[k].annotation, v) if isinstance(v, str) and k in fields else v
        for k, v in raw.items()
        if v is not None
    }
    missing_file = (
        f"`{spec.command}` needs {spec.file_words or 'an attached file'}: attach one and ask again"
        if spec.needs_file and not files
        else None
    )
    try:
        args = spec.args.model_validate(coerced)
    except ValidationError as exc:
        # Without its file the rest cannot be right either (no columns to name): ask for the file.
        return None, missing_file or describe_validation(exc, spec)
    if missing_file:
        return args, missing_file
    if files and spec.takes_files and spec.file_kinds:
        wrong = [f.name for f in files if not f.content_type.startswith(spec.file_kinds)]
        if wrong:
            return args, f"`{spec.command}` can't read {wrong[0]}: it takes {spec.file_words}"
    return args, None


def command_line(spec: CommandSpec, args: CommandArgs, prefix: str = "!") -> str:
    """The prefix command that makes the same job: positional values bare, the rest key=value,
    defaults left out."""
    dumped = args.model_dump(mode="json")
    parts = [f"{prefix}{spec.command}"]
    positional = spec.positional
    for key in positional:
        value = dumped.get(key)
        if value is not None:
            parts.append(_shown(value))
    for key, info in spec.args.model_fields.items():
        if key in positional:
            continue
        value = dumped.get(key)
        default = info.get_default(call_default_factory=True)
        if value is None or value == default or (isinstance(value, list) and not value):
            continue
        parts.append(f"{key}={_shown(value)}")
    return " ".join(parts)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return _shown(",".join(map(str, value)))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if not any(c.isspace() or c in "\"'" for c in text):
        return text
    return f'"{text}"' if '"' not in text else shlex.quote(text)
