"""All-pairs correlations by block matrix products agree with polars' one-pair `pl.corr`."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from agents.data_analysis import correlations

N = 150_000  # more than two row blocks


def _frame() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    base = rng.normal(0, 1, N)
    income = 1e6 + 10 * base + rng.normal(0, 5, N)  # a large mean with a small spread
    with_nulls = pl.Series("gaps", 3 * base + rng.normal(0, 2, N)).scatter(
        rng.choice(N, N // 5, replace=False).tolist(), None
    )
    return pl.DataFrame(
        {
            "base": base,
            "income": income,
            "gaps": with_nulls,
            "count": rng.integers(0, 50, N),
            "flat": np.full(N, 0.1),
            "nan": np.where(rng.random(N) < 0.01, np.nan, base),
        }
    )


def test_every_pair_matches_pl_corr_with_nulls_large_means_and_degenerate_columns():
    frame = _frame()
    names = frame.columns
    r = correlations._blocked(frame, names)
    assert np.allclose(correlations._pairwise(frame, names)[0, 1:4], r[0, 1:4], atol=1e-9)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if j <= i:
                continue
            expected = frame.select(pl.corr(pl.col(a).cast(pl.Float64), pl.col(b).cast(pl.Float64))).item()
            # A constant column has no correlation: polars returns its rounding noise (~1e-19),
            # which would be listed as r = 0.0; here it is undefined and left out.
            if "flat" in (a, b) or expected is None or not math.isfinite(expected):
                assert not math.isfinite(r[i, j]), (a, b, r[i, j])
            else:
                assert r[i, j] == pytest.approx(expected, abs=1e-9), (a, b)
