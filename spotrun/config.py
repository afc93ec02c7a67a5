"""Loads pydantic-settings classes; a validation error becomes a message naming the variable."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pydantic_settings
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from spotrun import logs

S = TypeVar("S", bound=BaseSettings)


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the environment variable."""


def env_name(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, str):
        return alias
    if alias is not None and hasattr(alias, "choices"):
        return str(alias.choices[0])
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment (and overrides) or raise SettingsError."""
    try:
        settings = cls(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # pydantic prefixes a validator's own ValueError; the rest of the text says it all.
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["loc"]:
                problems.append(f"{env_name(cls, str(err['loc'][0]))}: {msg}")
            else:  # a model validator: its message names the variables itself
                problems.append(msg)
        raise SettingsError(_one_line("invalid settings: " + "; ".join(problems))) from None
    except pydantic_settings.SettingsError as exc:
        # The env source could not decode a complex value as JSON. List settings use
        # spotrun.settings_types.CommaList, so this is a field type that should have too.
        raise SettingsError(_one_line(f"invalid settings: {exc}")) from None
    # Secrets never reach a log line, whichever logger prints them.
    for name in cls.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            logs.register_secret(value.get_secret_value())
    return settings


def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextmanager
def exit_on_settings_error(prog: str) -> Iterator[None]:
    """A process's startup: a SettingsError is one line on stderr and exit code 2, no traceback."""
    try:
        yield
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
