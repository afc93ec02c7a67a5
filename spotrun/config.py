"""Loads pydantic-settings classes; a validation error becomes a message naming the variable."""

from __future__ import annotations

from typing import Any, TypeVar

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
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{env_name(cls, field)}: {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
    # Secrets never reach a log line, whichever logger prints them.
    for name in cls.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            logs.register_secret(value.get_secret_value())
    return settings
