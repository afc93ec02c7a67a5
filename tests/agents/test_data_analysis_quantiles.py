"""Quartiles from sample brackets equal numpy's exact percentiles, whatever the column's order or ties."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from agents.data_analysis import quantiles

N = 300_000  # above the direct-partition size, so the bracket path runs


def _expected(values: np.ndarray) -> dict[str, float]:
    clean = values[~np.isnan(values)] if values.dtype.kind == "f" else values
    return dict(zip(quantiles.QUARTILES, np.percentile(clean, [25, 50, 75]).tolist(), strict=True))


rng = np.random.default_rng(3)
CASES = {
    "normal": rng.normal(50, 10, N),
    "sorted ids": np.arange(N),
    "reverse": np.arange(N)[::-1].astype(float),
    "few distinct ints": rng.integers(0, 3, N),
    "all equal": np.full(N, 7.5),
    "heavy tail": rng.standard_cauchy(N),
    # A period equal to the sample's stride would fool a stride sample: the counts catch it.
    "periodic at the stride": np.tile(np.arange(N // 16_384 + 1, dtype=float), 16_384)[:N],
    "with NaN": np.where(rng.random(N) < 0.1, np.nan, rng.normal(0, 1, N)),
    "small": rng.normal(0, 1, 1000),
}


@pytest.mark.parametrize("case", list(CASES))
def test_quartiles_equal_numpy_exactly(case):
    values = CASES[case]
    assert quantiles.quartiles(pl.Series("x", values)) == _expected(values)


def test_nulls_are_left_out_and_an_empty_column_has_none():
    values = rng.normal(0, 1, N)
    with_nulls = pl.Series("x", values).scatter(list(range(0, N, 7)), None)
    assert quantiles.quartiles(with_nulls) == _expected(with_nulls.drop_nulls().to_numpy())
    empty = pl.Series("e", [None] * N, dtype=pl.Float64)
    assert quantiles.quartiles(empty) == {"q25": None, "median": None, "q75": None}


def test_analysis_frees_the_upload_once_decoded_and_keeps_its_name():
    from agents.data_analysis.handlers import analyze_file
    from agents.data_analysis.settings import AnalysisSettings
    from spotrun.protocol import InputFile

    file = InputFile(name="t.csv", content_type="text/csv", data=b"a,b\n1,x\n2,y\n3,\n")
    fmt, stats = analyze_file(file, AnalysisSettings(), None)
    assert file.data == b"", "the bytes stay alive beside the statistics' working memory"
    assert file.name == "t.csv" and stats["rows"] == 3 and fmt.startswith("csv")
