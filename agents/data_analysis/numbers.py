"""One number format per column, chosen from its range: a table never mixes 7,221 and 1.342e+04."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

_SIGNIFICANT = 4  # digits the largest value of a column shows
_MAX_DECIMALS = 6
_SCIENTIFIC_AT = 1e12  # past a trillion, grouped digits stop being readable


def column_format(values: Iterable[float | int | None]) -> Callable[[float | int | None], str]:
    """A formatter for every value of one column: fixed decimals (with thousands separators) that
    give its largest magnitude four significant digits, or scientific notation for the whole column
    when its range is too wide or too small for that."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    largest = max(finite, default=0.0)
    smallest = min((v for v in finite if v), default=0.0)
    integers = all(float(v).is_integer() for v in finite)
    if largest >= _SCIENTIFIC_AT or (largest and largest < 10.0**-_MAX_DECIMALS * 10):
        spec = ".3e"
    elif integers and largest >= 1:
        spec = ",.0f"
    else:
        magnitude = math.floor(math.log10(largest)) if largest else 0
        decimals = min(_MAX_DECIMALS, max(0, _SIGNIFICANT - 1 - magnitude))
        # Keep a small non-zero value from printing as 0.000 when the column allows a few more digits.
        if smallest and smallest < 10.0**-decimals and decimals < _MAX_DECIMALS:
            decimals = min(_MAX_DECIMALS, decimals + 2)
        spec = f",.{decimals}f"

    def fmt(value: float | int | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return format(value, spec)

    return fmt
