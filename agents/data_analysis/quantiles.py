"""Exact quartiles of big columns from a sample's brackets: a few vectorised passes instead of a partition.

A quantile with linear interpolation (numpy's, pandas' and polars' default) needs two order
statistics. A stride sample of the column says roughly where they lie; one count of the values
below a bracket around them and a filter of the few inside it (~3 % of the column) give the exact
order statistics by partitioning only those. A bracket that misses (the count proves it) sends the
column to the full partition, so the answer is always numpy's. On a 1M-value column: 8–15 ms
instead of the 28 ms of `np.percentile`'s partition (and 18 ms of a full sort).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

QUARTILES = {"q25": 0.25, "median": 0.5, "q75": 0.75}
_SMALL = 100_000  # columns up to this many values are partitioned directly
_SAMPLE = 16_384  # sample size: brackets hold ~3 % of a column
_MARGIN = 5.0  # bracket half-width in binomial standard deviations of the sample rank


def _array(series: pl.Series) -> np.ndarray:
    """The column's values without nulls (and NaN), as one writable float or integer array."""
    import numpy as np
    import polars as pl

    values = series.drop_nulls()
    if not (values.dtype.is_integer() or values.dtype.is_float()):
        values = values.cast(pl.Float64)
    array = values.to_numpy(writable=True)
    if array.dtype.kind == "f" and (nan := np.isnan(array)).any():
        array = array[~nan]
    return array


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's interpolation formula to the last bit, so the result equals `np.percentile`'s."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _direct(array: np.ndarray) -> dict[str, Any]:
    import numpy as np

    if not array.size:
        return dict.fromkeys(QUARTILES)
    found = np.percentile(array, [100 * q for q in QUARTILES.values()], overwrite_input=True)
    return {label: float(v) for label, v in zip(QUARTILES, found, strict=True)}


def _ranks(n: int) -> list[tuple[str, int, float]]:
    """(label, lower order statistic, interpolation weight) of each quartile among n values."""
    out = []
    for label, q in QUARTILES.items():
        position = q * (n - 1)
        low = math.floor(position)
        out.append((label, low, position - low))
    return out


def quartiles(series: pl.Series) -> dict[str, Any]:
    """q25, median and q75 of a column (None when it has no values), exactly as np.percentile."""
    import numpy as np

    array = _array(series)
    n = array.size
    if n <= _SMALL:
        return _direct(array)
    sample = np.sort(array[:: max(1, n // _SAMPLE)])
    s = sample.size
    spread = _MARGIN * math.sqrt(s * 0.25) + 2  # the binomial sd of a sample rank is at most √s / 2
    out: dict[str, Any] = {}
    for label, low, weight in _ranks(n):
        centre = low / (n - 1) * (s - 1)
        a, b = math.floor(centre - spread), math.ceil(centre + spread)
        lo = sample[a] if a >= 0 else -np.inf
        hi = sample[b] if b < s else np.inf
        below = int(np.count_nonzero(array < lo))
        inside = array[(array >= lo) & (array <= hi)]
        high = min(low + 1, n - 1)
        if not (below <= low and high < below + inside.size):  # the bracket missed the ranks
            return _direct(array)
        wanted = sorted({low - below, high - below})
        inside.partition(wanted)
        out[label] = _lerp(float(inside[low - below]), float(inside[high - below]), weight)
    return out
