"""Field types every settings class shares, read from env vars the way operators write them."""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal, TypeVar

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

T = TypeVar("T")

_SEPARATORS = re.compile(r"[,\s]+")


def split_list(value: object) -> object:
    """`a,b`, `a, b` or `a b` -> ["a", "b"]; a JSON list (`["a","b"]`) is read as JSON; "" -> [].

    pydantic-settings would read a list field as JSON only, so the natural env form
    (`ALLOWED_CALLERS=bot@p.iam.gserviceaccount.com`, what deploy-agents renders) failed."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)  # a ValueError here names the variable like any other
    return [part for part in _SEPARATORS.split(text) if part]


# A tuple setting given as a comma (or space) separated list, or as a JSON list. NoDecode stops
# pydantic-settings from JSON-decoding the raw string before the validator sees it.
CommaList = Annotated[tuple[T, ...], NoDecode, BeforeValidator(split_list)]


def _upper_level(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


# Checked at startup, not when logging is configured: `LOG_LEVEL=chatty` must be a settings
# error naming the variable, not a ValueError from the logging module.
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper_level)]
