"""Monitor intervals as users write them: 30s, 10m, 2h, 1d, or bare minutes."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400}
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)\s*(s|m|min|h|d)?$", re.IGNORECASE)
# The longest interval we accept: a month. Past it a monitor is more likely forgotten than useful.
MAX_INTERVAL_S = 31 * 86_400


class BadInterval(ValueError):
    """The text is not an interval, or is outside what is allowed; the message says which."""


def parse_interval(text: str, min_s: float) -> tuple[float, str]:
    """(seconds, the interval as given, for echoing back). Bare numbers are minutes."""
    raw = text.strip()
    match = _INTERVAL.match(raw)
    if match is None:
        raise BadInterval(f"`{raw[:20]}` is not an interval: use 30s, 10m, 2h, 1d or plain minutes")
    number, unit = float(match[1]), (match[2] or "").lower()
    seconds = number * _UNITS[unit or "m"]
    shown = raw.lower().replace(" ", "") if unit else f"{raw} min"
    if seconds < min_s:
        raise BadInterval(f"the shortest interval is {format_seconds(min_s)} (you asked for {shown})")
    if seconds > MAX_INTERVAL_S:
        raise BadInterval(f"the longest interval is {format_seconds(MAX_INTERVAL_S)} (you asked for {shown})")
    return seconds, shown


def format_seconds(seconds: float) -> str:
    """The largest unit that divides evenly: 300 -> 5m, 7200 -> 2h, 90 -> 90s."""
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
