"""An agent's JSON Schema for a command's arguments -> a pydantic model and typed slash options.

The bot meets commands only through manifests. For a built-in command whose published schema is
exactly the protocol model's, the protocol model itself is used (the same model the agent
validates with); any other command gets a model rebuilt from its schema, so input is still
checked before anything is spent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, create_model

from spotrun.protocol import COMMANDS, CommandArgs

# Discord: at most 25 options and 25 choices; option names lower case, ≤ 32 characters.
MAX_OPTIONS = 25
MAX_CHOICES = 25
_JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _nullable(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """`anyOf: [X, {type: null}]` (pydantic's `X | None`) -> (X, True)."""
    options = prop.get("anyOf")
    if isinstance(options, list):
        real = [o for o in options if o.get("type") != "null"]
        if len(real) == 1 and len(real) < len(options):
            return {**prop, **real[0], "anyOf": None}, True
    return prop, False


def _annotation(prop: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(python type, Field constraints) for one property; unknown shapes pass through as text."""
    if prop.get("enum"):
        return Literal[tuple(prop["enum"])], {}
    kind = prop.get("type")
    constraints: dict[str, Any] = {}
    for schema_key, field_key in (
        ("minimum", "ge"),
        ("maximum", "le"),
        ("exclusiveMinimum", "gt"),
        ("exclusiveMaximum", "lt"),
        ("minLength", "min_length"),
        ("maxLength", "max_length"),
        ("pattern", "pattern"),
        ("maxItems", "max_length"),
        ("minItems", "min_length"),
    ):
        if schema_key in prop:
            constraints[field_key] = prop[schema_key]
    if kind == "array":
        item, item_constraints = _annotation(prop.get("items") or {"type": "string"})
        inner = Annotated[item, Field(**item_constraints)] if item_constraints else item
        return list[inner], constraints  # type: ignore[valid-type]
    if kind == "string" and prop.get("format") == "uri":
        return Annotated[str, AfterValidator(_check_url)], constraints
    return _JSON_TYPES.get(kind or "", str), constraints


def model_from_schema(name: str, schema: dict[str, Any]) -> type[CommandArgs]:
    """A CommandArgs model that checks what `schema` says (types, enums, bounds, lengths)."""
    required = set(schema.get("required") or [])
    fields: dict[str, Any] = {}
    for key, raw in (schema.get("properties") or {}).items():
        prop, nullable = _nullable(raw)
        annotation, constraints = _annotation(prop)
        if nullable:
            annotation = annotation | None
        description = raw.get("description") or prop.get("description")
        if key in required:
            fields[key] = (annotation, Field(..., description=description, **constraints))
        elif prop.get("type") == "array" and "default" not in raw:
            fields[key] = (annotation, Field(default_factory=list, description=description, **constraints))
        else:
            fields[key] = (
                annotation | None,
                Field(default=raw.get("default"), description=description, **constraints),
            )
    title = re.sub(r"[^A-Za-z0-9]", "", name.title()) or "Command"
    return create_model(f"{title}Args", __base__=CommandArgs, **fields)


def args_model(name: str, schema: dict[str, Any]) -> type[CommandArgs]:
    """The protocol's own model for a built-in command with an unchanged schema; else a rebuilt one."""
    spec = COMMANDS.get(name)
    if spec is not None and spec.args.model_json_schema() == schema:
        return spec.args
    return model_from_schema(name, schema)


# ------------------------------------------------------------------------- slash options


@dataclass(frozen=True)
class OptionDef:
    """One slash option: Discord's types, choices and ranges, from one schema property."""

    name: str
    kind: Literal["string", "integer", "number", "boolean", "attachment"]
    description: str
    required: bool = False
    choices: tuple[str | int | float, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    is_list: bool = False  # a comma-separated list typed as text
    is_url: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _describe(key: str, prop: dict[str, Any], fallback: str) -> str:
    text = prop.get("description") or fallback or key.replace("_", " ")
    return text[:100]


def options_for(schema: dict[str, Any], files_min: int, files_max: int, file_words: str) -> list[OptionDef]:
    """The slash options of a command: one per argument, then one attachment per input file."""
    required = set(schema.get("required") or [])
    options: list[OptionDef] = []
    for key, raw in (schema.get("properties") or {}).items():
        prop, _ = _nullable(raw)
        desc = _describe(key, raw, prop.get("description", ""))
        enum = prop.get("enum") or []
        kind = prop.get("type")
        if enum and len(enum) <= MAX_CHOICES and all(isinstance(v, str | int | float) for v in enum):
            json_kind = (
                "string"
                if all(isinstance(v, str) for v in enum)
                else (
                    "integer"
                    if all(isinstance(v, int) and not isinstance(v, bool) for v in enum)
                    else "number"
                )
            )
            option = OptionDef(key, json_kind, desc, key in required, choices=tuple(enum))  # type: ignore[arg-type]
        elif kind in ("integer", "number"):
            low = prop.get("minimum", prop.get("exclusiveMinimum"))
            high = prop.get("maximum", prop.get("exclusiveMaximum"))
            option = OptionDef(key, kind, desc, key in required, min_value=low, max_value=high)
        elif kind == "boolean":
            option = OptionDef(key, "boolean", desc, key in required)
        elif kind == "array":
            option = OptionDef(key, "string", desc, key in required, is_list=True)
        else:
            is_url = prop.get("format") == "uri"
            option = OptionDef(
                key,
                "string",
                desc,
                key in required,
                min_length=prop.get("minLength") if not is_url else None,
                max_length=min(prop["maxLength"], 6000) if "maxLength" in prop else None,
                is_url=is_url,
            )
        options.append(option)
    what = file_words or "an input file"
    for i in range(files_max):
        name = "file" if i == 0 else f"file{i + 1}"
        options.append(
            OptionDef(
                name, "attachment", f"{'' if i < files_min else 'optional: '}{what}"[:100], i < files_min
            )
        )
    return options[:MAX_OPTIONS]
