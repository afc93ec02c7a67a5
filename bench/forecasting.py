"""`predict` on real series shipped inside statsmodels, against seasonal naive and the library run directly.

No download: the series are the data files inside the installed statsmodels package (Mauna Loa CO₂,
weekly; El Niño sea-surface temperature, monthly; US inflation and real GDP, quarterly; sunspot
numbers, yearly with an 11-year cycle). Each is cut at one horizon before its end; every method is
fitted on the rest and scored by MAE on the cut, as a ratio to seasonal naive's MAE (below 1 beats
repeating the last season). "Library directly" is the best of statsmodels' ETS (AAdA), Holt-Winters
(damped additive) and Theta, each run with the true season length.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from dataclasses import dataclass
from typing import Any

from bench._util import Row


@dataclass
class Series:
    name: str
    values: Any  # numpy array
    dates: list[dt.date]
    horizon: int


def _series() -> list[Series]:
    import statsmodels.datasets as sd

    co2 = sd.co2.load_pandas().data["co2"].interpolate()
    elnino = sd.elnino.load_pandas().data
    macro = sd.macrodata.load_pandas().data
    sun = sd.sunspots.load_pandas().data
    quarters = [
        dt.date(int(y), 3 * int(q) - 2, 1) for y, q in zip(macro["year"], macro["quarter"], strict=True)
    ]
    months = [dt.date(int(y), m, 1) for y in elnino["YEAR"] for m in range(1, 13)]
    return [
        Series("CO₂ Mauna Loa, weekly", co2.to_numpy(), [d.date() for d in co2.index], 52),
        Series("El Niño SST, monthly", elnino.iloc[:, 1:].to_numpy().ravel(), months, 12),
        Series("US CPI inflation, quarterly", macro["infl"].to_numpy(), quarters, 8),
        Series("US real GDP, quarterly", macro["realgdp"].to_numpy(), quarters, 8),
        Series(
            "sunspots, yearly",
            sun["SUNACTIVITY"].to_numpy(),
            [dt.date(int(y), 1, 1) for y in sun["YEAR"]],
            11,
        ),
    ]


def _library(train: Any, horizon: int, season: int) -> dict[str, list[float]]:
    """statsmodels run directly, as a user would, with the season length given."""
    import numpy as np
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.forecasting.theta import ThetaModel
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = pd.Series(train)
    out: dict[str, list[float]] = {}
    seasonal = season >= 2 and len(train) >= 2 * season
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {
            "statsmodels ETS(A,Ad,A)": lambda: ETSModel(
                y,
                error="add",
                trend="add",
                damped_trend=True,
                seasonal="add" if seasonal else None,
                seasonal_periods=season if seasonal else None,
            ).fit(disp=False),
            "statsmodels Holt-Winters": lambda: ExponentialSmoothing(
                y,
                trend="add",
                damped_trend=True,
                seasonal="add" if seasonal else None,
                seasonal_periods=season if seasonal else None,
            ).fit(),
            "statsmodels Theta": lambda: ThetaModel(
                y, period=season if seasonal else 1, deseasonalize=seasonal
            ).fit(),
        }
        for name, fit in fits.items():
            try:
                out[name] = np.asarray(fit().forecast(horizon), dtype=float).tolist()
            except (ValueError, np.linalg.LinAlgError):
                continue
    return out


def rows() -> list[Row]:
    import numpy as np

    from agents.data_analysis import dates, forecast, seasonal
    from agents.data_analysis.handlers import _season

    out: list[Row] = []
    for s in _series():
        train, test = s.values[: -s.horizon], s.values[-s.horizon :]
        freq = dates.infer(s.dates[: -s.horizon])
        season, source = _season(train, freq)
        started = time.perf_counter()
        choice = forecast.choose(train, s.horizon, "auto", 0.2, season)
        took = time.perf_counter() - started
        naive = float(np.mean(np.abs(test - seasonal.seasonal_naive(train, s.horizon, season).forecast)))
        # Hyndman's MASE: the cut's MAE over the in-sample MAE of one-season-back naive.
        scale = float(np.mean(np.abs(train[season:] - train[:-season])))
        mase = float(np.mean(np.abs(test - np.asarray(choice.fit.forecast)))) / scale
        ours = float(np.mean(np.abs(test - np.asarray(choice.fit.forecast)))) / naive
        library = {
            name: float(np.mean(np.abs(test - np.asarray(f)))) / naive
            for name, f in _library(train, s.horizon, season).items()
        }
        best = min(library, key=library.__getitem__)
        inside = np.mean(
            [
                (lo <= v <= hi)
                for v, lo, hi in zip(test, choice.fit.lower or test, choice.fit.upper or test, strict=True)
            ]
        )
        out += [
            Row(
                "engines",
                f"predict {s.name}, m={season} ({source or 'none'})",
                ours,
                "MAE/snaive",
                best,
                ours / library[best],
                f"{choice.fit.method} ({choice.fit.label}); MASE {mase:.2f}; "
                f"95 % interval held {inside:.0%} of the cut; {took:.1f}s",
            ),
            Row(
                "engines", f"  {best} on the same cut (best library, comparison)", library[best], "MAE/snaive"
            ),
        ]
    return out


if __name__ == "__main__":
    from bench._util import render_table

    print(render_table(rows()))
