"""Command text ("!tts hello voice=en") or slash options -> the protocol's validated args model."""

from __future__ import annotations

import re
import shlex
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from spotrun.protocol import COMMANDS, CommandArgs, CommandSpec, InputFile

if TYPE_CHECKING:
    from bot.commands.schema import OptionDef

_KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$", re.S)

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
    """The user's arguments don't fit the command; the message ends with its usage and an example.
    `str()` is the prefix form; `for_slash()` the same words for someone who typed `/command`."""

    def __init__(self, spec: CommandSpec | None, problem: str, prefix: str = "!") -> None:
        self.spec = spec
        self.problem = problem
        self.slash = False  # raised for typed slash options: str() is the slash form too
        super().__init__(problem + (usage_hint(spec, prefix) if spec is not None else ""))

    def __str__(self) -> str:
        return self.for_slash() if self.slash else super().__str__()

    def for_slash(self) -> str:
        return self.problem + (usage_hint(self.spec, None) if self.spec is not None else "")


def usage_hint(spec: CommandSpec, prefix: str | None) -> str:
    """The usage line and example, as typed: `!tts <text>` for a prefix (None: `/tts args:<text>`)."""
    if prefix is not None:
        example = prefix + spec.example.removeprefix("!")
        return f"\nusage: `{prefix}{spec.usage}`\nexample: `{example}`"
    return f"\nusage: `{slash_usage(spec)}`\nexample: `{slash_example(spec)}`"


def slash_usage(spec: CommandSpec) -> str:
    """The typed slash form: `/chart [kind:line|bar|…] [x:…] file:<data file>` (required bare)."""
    from bot.commands.schema import options_for  # the schema module imports this one's models

    parts = [f"/{spec.command}"]
    for opt in options_for(
        spec.args.model_json_schema(), 1 if spec.needs_file else 0, spec.takes_files, spec.file_words
    ):
        if opt.kind == "attachment":
            if opt.name != "file":
                continue  # one is enough in a usage line
            shown = "file:<file>"
        else:
            shown = f"{opt.name}:" + ("|".join(map(str, opt.choices)) if opt.choices else _placeholder(opt))
        parts.append(shown if opt.required else f"[{shown}]")
    return " ".join(parts)


def _placeholder(opt: OptionDef) -> str:
    if opt.is_url:
        return "<url>"
    if opt.kind == "boolean":
        return "<true|false>"
    if opt.kind in ("integer", "number") and opt.min_value is not None and opt.max_value is not None:
        return f"<{opt.min_value:g}–{opt.max_value:g}>"
    return {"string": "<text>", "integer": "<whole number>", "number": "<number>"}.get(opt.kind, "<…>")


_EXAMPLE = re.compile(r"^!(?P<name>\S+)\s*(?P<rest>.*?)\s*(?:\(with (?P<file>.+?) attached\))?$")


def slash_example(spec: CommandSpec, example: str | None = None) -> str:
    """`!chart line x=date (with sales.csv attached)` -> `/chart kind:line x:date file:sales.csv`:
    the example is parsed as the prefix form would, then shown as the options it fills."""
    example = example or spec.example
    m = _EXAMPLE.match(example)
    if m is None:
        return "/" + example.removeprefix("!")
    try:
        parsed = parse(m["name"], m["rest"], [], specs={spec.command: spec}, check_files=False)
    except UsageError:
        return "/" + example.removeprefix("!")
    given = parsed.args.model_dump(mode="json", include=parsed.args.model_fields_set)
    text = f"/{m['name']}"
    for key, value in given.items():
        shown = (
            ",".join(map(str, value))
            if isinstance(value, list)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
        text += f" {key}:{shown}"
    if m["file"]:
        what = m["file"].removeprefix("an ").removeprefix("a ")
        text += f" file:{what}" if "." in what else f" file:<{what}>"
    return text


@dataclass
class ParsedCommand:
    command: str
    args: CommandArgs
    files: list[InputFile] = field(default_factory=list)
    spec: CommandSpec | None = None


def positional_fields(spec: CommandSpec) -> list[str]:
    """The usage line's <placeholders> name the leading fields of the args model, in order."""
    return spec.positional


def guess_content_type(name: str, declared: str | None = None) -> str:
    if declared and declared != "application/octet-stream":
        return declared.split(";")[0].strip()
    return _TYPES.get(Path(name).suffix.lower(), declared or "application/octet-stream")


def file_kinds(spec: CommandSpec) -> str:
    """What the command reads, in the names of files people have (from its manifest)."""
    return spec.file_words or "the files listed in its help"


def check_file(spec: CommandSpec, f: InputFile, max_bytes: int, prefix: str = "!") -> InputFile:
    if len(f.data) > max_bytes:
        raise UsageError(
            spec,
            f"{f.name} is {len(f.data) / 1048576:.1f} MiB; the limit is {max_bytes / 1048576:.0f} MiB",
            prefix,
        )
    if spec.file_kinds and not f.content_type.startswith(spec.file_kinds):
        raise UsageError(spec, f"`{spec.command}` can't read {f.name}: it takes {file_kinds(spec)}", prefix)
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
    specs: Mapping[str, CommandSpec] = COMMANDS,
    check_files: bool = True,
) -> ParsedCommand:
    """Parse the text after the command name. `local_files`: a token naming a file attaches it.
    `specs`: the commands known (the bot's come from the agents' manifests)."""
    command = name.lower()
    spec = specs.get(command)
    if spec is None:
        raise UsageError(None, f"unknown command `{name}`; try `{prefix}help`")
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
        elif local_files and (_looks_like_file(token) or (spec.file_kinds and _names_a_file(token))):
            # A path with a file's extension that does not exist is a typo in a path, not text:
            # say so ("cannot read …") rather than "needs an attached file".
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
    return _validated(spec, raw, files, max_file_bytes, prefix, check_files)


def parse_options(
    spec: CommandSpec,
    options: Mapping[str, Any],
    files: list[InputFile],
    *,
    max_file_bytes: int = 25 * 1024 * 1024,
) -> ParsedCommand:
    """Typed slash options (already int/float/bool/str as Discord sent them) -> validated args.
    Lists arrive as comma-separated text; an option left empty is left out."""
    model_fields = spec.args.model_fields
    raw = {
        k: _coerce(model_fields[k].annotation, v) if isinstance(v, str) else v
        for k, v in options.items()
        if k in model_fields and v is not None
    }
    return _validated(spec, raw, files, max_file_bytes, None, True)


def _validated(
    spec: CommandSpec,
    raw: dict[str, Any],
    files: list[InputFile],
    max_file_bytes: int,
    prefix: str | None,
    check_files: bool,
) -> ParsedCommand:
    def problem(text: str) -> UsageError:
        error = UsageError(spec, text, prefix or "!")
        error.slash = prefix is None
        return error

    try:
        args = spec.args.model_validate(raw)
    except ValidationError as exc:
        raise problem(describe_validation(exc, spec)) from None
    if not check_files:
        return ParsedCommand(spec.command, args, [], spec)
    if spec.needs_file and not files:
        raise problem(f"`{spec.command}` needs an attached file")
    if spec.takes_files and len(files) > spec.takes_files:
        many = "one file" if spec.takes_files == 1 else f"{spec.takes_files} files"
        raise problem(f"`{spec.command}` reads {many}; you attached {len(files)}")
    checked = [check_file(spec, f, max_file_bytes, prefix or "!") for f in files]
    return ParsedCommand(spec.command, args, checked if spec.takes_files else [], spec)


def describe_validation(exc: ValidationError, spec: CommandSpec | None = None) -> str:
    """pydantic's errors as sentences a user understands: which argument, what is wrong, the limit."""
    positional = positional_fields(spec) if spec is not None else []
    return " ".join(_sentence(err, positional) for err in exc.errors())


def _label(loc: tuple[int | str, ...], positional: list[str]) -> str:
    name = str(loc[0]) if loc else "arguments"
    if name in positional:  # the usage line shows it as a word (<text>), not as an option
        return "The " + _WORDS.get(name, name.replace("_", " "))
    return f"`{name}`"


_WORDS = {"url": "URL"}


def _given(value: object) -> str:
    text = str(value).replace("`", "ˋ")
    return f"`{text[:40]}…`" if len(text) > 40 else f"`{text}`"


def _sentence(err: Any, positional: list[str]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    label = _label(err["loc"], positional)
    gave = f" (you gave {_given(value)})"
    if kind == "missing":
        return f"{label} is missing." if label.startswith("The ") else f"{label} is required."
    if kind == "extra_forbidden":
        return f"unknown option {label}."
    if kind == "string_too_long":
        return f"{label} is too long: {len(str(value)):,} characters; the limit is {ctx['max_length']:,}."
    if kind == "string_too_short":
        if ctx.get("min_length", 1) <= 1:
            return f"{label} is empty."
        return f"{label} is too short: {len(str(value)):,} characters; the minimum is {ctx['min_length']:,}."
    if kind == "too_long":
        return f"{label} lists too many: {ctx.get('actual_length', '?')}; the limit is {ctx['max_length']}."
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{label} must be {words} {ctx[key]}{gave}."
    if kind == "literal_error":
        return f"{label} must be one of {str(ctx['expected']).replace(chr(39), '')}{gave}."
    if kind in ("int_parsing", "int_from_float"):
        return f"{label} must be a whole number{gave}."
    if kind == "float_parsing":
        return f"{label} must be a number{gave}."
    if kind == "bool_parsing":
        return f"{label} must be true or false{gave}."
    if kind == "string_pattern_mismatch":
        return f"{label} isn't in a form the command accepts{gave}; see the example."
    if kind == "value_error":
        return f"{label} {ctx.get('error', err['msg'])}{gave}."
    return f"{label}: {err['msg']}{gave}."


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


def _names_a_file(token: str) -> bool:
    return not token.startswith(("http://", "https://")) and Path(token).suffix.lower() in _TYPES


def _local_file(spec: CommandSpec, path: str, prefix: str) -> InputFile:
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(spec, f"cannot read {path}: {exc.strerror}", prefix) from None
    return InputFile(name=p.name, content_type=guess_content_type(p.name), data=data)
