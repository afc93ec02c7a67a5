"""CSS-selector extraction for `extract`: matched elements' text or attribute, capped twice."""

from __future__ import annotations

import re
from dataclasses import dataclass

from yarl import URL

from agents.common import AgentFailure
from spotrun.protocol import ErrorCode

_SPACE = re.compile(r"\s+")
_URL_ATTRIBUTES = {"href", "src", "action", "poster", "data-src", "cite"}
_ITEM_CHARS = 500


@dataclass
class Selection:
    values: list[str]
    matches: int
    truncated: bool  # fewer values than matches, or a value was cut


def check_selector(selector: str) -> None:
    """Refuse a selector lexbor cannot parse, before anything is fetched."""
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError:
        raise AgentFailure(
            ErrorCode.INVALID_ARGUMENT,
            f"{selector!r} is not a valid CSS selector — try something like `h2 a` or `div.price`",
        ) from None


def _absolute(value: str, base: str) -> str:
    try:
        return str(URL(base).join(URL(value)))
    except (ValueError, TypeError):
        return value


def select(
    html: str, selector: str, attribute: str | None, limit: int, max_chars: int, base_url: str
) -> Selection:
    """Values of the elements matching `selector`: at most `limit`, at most `max_chars` in all."""
    from selectolax.lexbor import LexborHTMLParser

    nodes = LexborHTMLParser(html).css(selector)
    values: list[str] = []
    used = 0
    truncated = False
    for node in nodes:
        if len(values) >= limit:
            truncated = True
            break
        if attribute is None:
            value = _SPACE.sub(" ", node.text(separator=" ", strip=True)).strip()
        else:
            raw = node.attributes.get(attribute)
            if raw is None:
                continue  # the element lacks the attribute: nothing to report for it
            value = raw.strip()
            if attribute.lower() in _URL_ATTRIBUTES and value:
                value = _absolute(value, base_url)
        if len(value) > _ITEM_CHARS:
            value, truncated = value[: _ITEM_CHARS - 1] + "…", True
        if used + len(value) > max_chars:
            truncated = True
            break
        values.append(value)
        used += len(value)
    return Selection(values=values, matches=len(nodes), truncated=truncated)
