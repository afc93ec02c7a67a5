"""`predict` maths: trend models, the seasonal ones (seasonal.py), and the choice by holdout."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

Method = Literal[
    "linear",
    "holt",
    "seasonal_naive",
    "ets",
    "theta",
    "holt_winters",
    "combined",
    "ensemble",
    "ets_log",
    "holt_winters_log",
    "stl",
    "seasonal_mean",
    "weekly_naive",
    "mstl",
]
NAMES: dict[str, str] = {
    "linear": "least-squares linear trend",
    "holt": "Holt's linear exponential smoothing",
    "seasonal_naive": "seasonal naive (the last season repeated)",
    "ets": "exponential smoothing state space model (statsmodels ETS, form by AICc)",
    "theta": "the Theta method (statsmodels)",
    "holt_winters": "Holt-Winters exponential smoothing (statsmodels)",
    "combined": "the mean of ETS, Theta and Holt-Winters",
    "ensemble": "the median of the three models that did best on the held-out origins",
    "ets_log": "ETS on the logarithm of the values (a season that grows with the level)",
    "holt_winters_log": "Holt-Winters on the logarithm of the values (a season that grows with the level)",
    "stl": "STL decomposition, then ETS on the seasonally adjusted values (statsmodels)",
    "seasonal_mean": "the mean of each season position over the whole history (a climatology)",
    "weekly_naive": "the same time last week (sub-daily data)",
    "mstl": "MSTL with a daily and a weekly season, then ETS on the adjusted values (statsmodels)",
}
_GRID = [round(0.05 * i, 2) for i in range(1, 20)]  # 0.05 … 0.95 for both α and β


@dataclass
class Fit:
    method: Method
    forecast: list[float]
    params: dict[str, float] = field(default_factory=dict)
    fit_rmse: float = 0.0  # in-sample one-step (holt) or residual (linear) error
    lower: list[float] | None = None  # the model's own 95 % prediction interval, where it has one
    upper: list[float] | None = None
    label: str = ""  # e.g. "ETS(A,Ad,A), m=12"


@dataclass
class Choice:
    fit: Fit
    holdout: int = 0
    holdout_rmse: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    season: int = 1
    holdout_mae: dict[str, float] = field(default_factory=dict)
    folds: int = 1  # held-out tails the errors are averaged over
    tie: str | None = None  # the chosen model, when its lead over seasonal naive is within the noise
    week: int = 0  # a second, weekly season weighed (sub-daily data), in steps

    def where(self) -> str:
        if self.folds > 1:
            return f"{self.folds} held-out tails of {self.holdout} points"
        return f"the last {self.holdout} points"

    def relative_to_naive(self) -> float | None:
        """Holdout MAE of the chosen model over seasonal naive's: below 1 beats repeating the last season."""
        naive = self.holdout_mae.get("seasonal_naive")
        mine = self.holdout_mae.get(self.fit.method)
        return mine / naive if naive and mine is not None else None


def linear(values: np.ndarray, steps: int) -> Fit:
    import numpy as np

    t = np.arange(len(values), dtype=float)
    slope, intercept = np.polyfit(t, values, 1)
    residuals = values - (intercept + slope * t)
    future = intercept + slope * np.arange(len(values), len(values) + steps)
    return Fit(
        "linear",
        future.tolist(),
        {"slope": float(slope), "intercept": float(intercept)},
        float(np.sqrt(np.mean(residuals**2))),
    )


def holt(values: np.ndarray, steps: int) -> Fit:
    """Holt's method with α, β picked from a grid by in-sample one-step-ahead squared error.

    The grid is evaluated as one vectorised pass over time (all 361 α/β pairs at once), so a
    100k-point series costs a fraction of a second instead of minutes of Python loops.
    """
    import numpy as np

    alphas, betas = (a.ravel() for a in np.meshgrid(_GRID, _GRID, indexing="ij"))
    level = np.full(alphas.shape, values[0], dtype=float)
    trend = np.full(alphas.shape, values[1] - values[0], dtype=float)
    sse = np.zeros(alphas.shape)
    for y in values[1:]:
        predicted = level + trend
        sse += (y - predicted) ** 2
        new_level = alphas * y + (1 - alphas) * predicted
        trend = betas * (new_level - level) + (1 - betas) * trend
        level = new_level
    # Ties (e.g. a perfect line fits every pair) go to the smoothest pair: the lowest α, β.
    best = int(np.argmin(np.round(sse, 9)))
    horizon = np.arange(1, steps + 1)
    future = level[best] + horizon * trend[best]
    return Fit(
        "holt",
        future.tolist(),
        {"alpha": float(alphas[best]), "beta": float(betas[best])},
        float(math.sqrt(sse[best] / (len(values) - 1))),
    )


def _fitter(name: str, season: int, week: int = 0) -> Callable[[np.ndarray, int], Fit]:
    if name in ("linear", "holt"):
        return FITTERS_PLAIN[name]
    from agents.data_analysis import seasonal

    if name == "combined":
        return lambda values, steps: seasonal.combine(
            [_fitter(member, season)(values, steps) for member in seasonal.COMBINED], season
        )
    if name in ("weekly_naive", "mstl"):
        two = seasonal.weekly_naive if name == "weekly_naive" else seasonal.mstl
        return lambda values, steps: two(values, steps, season, week)
    if name.endswith("_log"):
        return lambda values, steps: seasonal.in_logs(
            _fitter(name.removesuffix("_log"), season), values, steps
        )
    fitter = {
        "seasonal_naive": seasonal.seasonal_naive,
        "ets": seasonal.ets,
        "theta": seasonal.theta,
        "holt_winters": seasonal.holt_winters,
        "stl": seasonal.stl,
        "seasonal_mean": seasonal.seasonal_mean,
    }[name]
    return lambda values, steps: fitter(values, steps, season)


FITTERS_PLAIN = {"linear": linear, "holt": holt}


def _rmse(actual: np.ndarray, predicted: list[float]) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((actual - np.asarray(predicted)) ** 2)))


def _mae(actual: np.ndarray, predicted: list[float]) -> float:
    import numpy as np

    return float(np.mean(np.abs(actual - np.asarray(predicted))))


def holdout_size(n: int, steps: int, season: int, fraction: float) -> int:
    """A season's worth (or the horizon, if longer) when there is a season; else a share of the points."""
    if season >= 2:
        return max(2, min(max(steps, season), n // 3))
    return max(2, round(n * fraction))


_SEASONAL_POINTS = 2500  # most recent points a seasonal choice is fitted on (at least ten seasons)
_FOLDS = 6  # rolling origins a seasonal choice is judged on: one holdout is one draw
_DECAY = 0.8  # weight of each older origin relative to the next newer one
# STL and the seasonal mean last: they joined after the others, and near-ties go to the earlier model.
_SEASONAL = ["seasonal_naive", "ets", "theta", "holt_winters", "combined", "stl", "seasonal_mean"]


def _forecasts(
    train: np.ndarray, steps: int, names: list[str], season: int, week: int = 0
) -> dict[str, list[float]]:
    """Each candidate's forecast from `train`; the combination reuses its members' forecasts."""
    from agents.data_analysis import seasonal

    out: dict[str, Fit] = {}
    for name in names:
        if name == "combined":
            members = [out[m] for m in seasonal.COMBINED if m in out]
            if len(members) == len(seasonal.COMBINED):
                out[name] = seasonal.combine(members, season)
            continue
        try:
            out[name] = _fitter(name, season, week)(train, steps)
        except (ValueError, ArithmeticError, IndexError) as exc:  # a model that cannot fit drops out
            log_skip(name, exc)
    return {name: fit.forecast for name, fit in out.items()}


def _weighted(runs: list[tuple[int, float]]) -> float:
    """Mean of per-origin values, origin k (0 = newest) weighted by _DECAY**k."""
    total = sum(_DECAY**k for k, _ in runs)
    return sum(_DECAY**k * v for k, v in runs) / total


def choose(
    values: np.ndarray, steps: int, method: str, holdout_fraction: float, season: int = 1, week: int = 0
) -> Choice:
    """Fit the named method, or for `auto` the one with the lowest error on held-out tails.

    With a season (m ≥ 2) `auto` also weighs seasonal naive, ETS, Theta, Holt-Winters, their
    mean, STL + ETS and the seasonal mean (for positive series also ETS and Holt-Winters in logs,
    and always the median of the best three) on up to six rolling origins one holdout apart, newer origins
    weighted more (×0.8 per step back): on real series one or three holdouts picked a different
    model from one cut to the next. Each origin's error is taken relative to seasonal naive's on
    that origin, so a volatile stretch does not outvote the others. The holdout also gives every
    method an honest error estimate: it never saw those points. A lead over seasonal naive inside
    the origins' spread is reported as a tie (`Choice.tie`).
    """
    if season >= 2:
        # Seasonal fits cost up to seconds per thousand points. Shorter histories were tried and
        # dropped: Holt-Winters on CO₂ weekly scored 0.32 of seasonal naive's error on all 2,232
        # points, 0.74 on the last 1,000 and 0.43 on the last 500 (its optimiser is that fragile).
        values = values[-max(_SEASONAL_POINTS, 10 * season, 4 * week) :]
    n = len(values)
    holdout = holdout_size(n, steps, season, holdout_fraction)
    seasonal = season >= 2 and n - holdout >= 2 * season + 2
    # Too short to judge the seasonal models, but a season is known: repeating the last season still
    # competes (it needs one season of history), so a trend line is not the only answer for seasonal data.
    short = season >= 2 and not seasonal and n - holdout >= season
    extra = _SEASONAL if seasonal else ["seasonal_naive"] if short else []
    candidates = ["linear", "holt", *extra] if method == "auto" else [method]
    if method == "auto" and seasonal and bool((values > 0).all()):
        # A season that grows with the level (air passengers) is additive in logs.
        candidates = [*candidates, *_IN_LOGS]
    folds = _FOLDS if seasonal else 1
    if method == "auto" and seasonal and week >= 2 * season and n - folds * holdout >= 2 * week + 2:
        # Sub-daily dates: a week is a second season (weekdays and weekends differ), weighed when
        # every origin holds two weeks of history.
        candidates = [*candidates, *_WEEKLY]
    origins: list[tuple[int, np.ndarray, dict[str, list[float]]]] = []
    for fold in range(folds):
        end = n - fold * holdout
        if end - holdout < (2 * season + 2 if seasonal else 3):
            break
        train, test = values[: end - holdout], values[end - holdout : end]
        benchmark = ["seasonal_naive"] if (seasonal or short) and "seasonal_naive" not in candidates else []
        names = candidates + benchmark
        origins.append((fold, test, _forecasts(train, holdout, names, season, week)))
    if method == "auto" and seasonal:
        _add_ensemble(origins)
        candidates = [*candidates, "ensemble"]
    errors: dict[str, list[tuple[int, float, float]]] = {}
    relative: dict[str, list[tuple[int, float]]] = {}
    for fold, test, found in origins:
        naive = _mae(test, found["seasonal_naive"]) if "seasonal_naive" in found else 0.0
        for name, predicted in found.items():
            mae_here = _mae(test, predicted)
            errors.setdefault(name, []).append((fold, _rmse(test, predicted), mae_here))
            if naive > 0:
                relative.setdefault(name, []).append((fold, mae_here / naive))
    rmse = {name: _weighted([(k, e) for k, e, _ in runs]) for name, runs in errors.items()}
    mae = {name: _weighted([(k, e) for k, _, e in runs]) for name, runs in errors.items()}
    # The score that picks: relative to seasonal naive per origin when there is one, else the MAE.
    # Ratios are averaged as logs (a geometric mean, AvgRelMAE): one origin where a model is 2×
    # worse and one where it is 2× better cancel out instead of counting as 1.25× worse.
    score = _scores(relative) if relative else mae
    if not mae:
        holdout = 0
    if method != "auto":
        return Choice(
            _fitter(method, season, week)(values, steps),
            holdout,
            rmse,
            f"{NAMES[method]}, as requested",
            season,
            mae,
            max(1, len(next(iter(errors.values()), []))),
        )
    if not mae:
        return Choice(
            linear(values, steps),
            0,
            {},
            f"auto chose linear: {n} points are too few to compare methods on a holdout",
            season,
        )
    # Simpler models win ties and near-ties (within 1 %): they extrapolate more predictably.
    order = [c for c in candidates if c in score]
    best = min(score[c] for c in order)
    picked = next(c for c in order if score[c] <= best * 1.01 or score[c] - best < 1e-12)
    choice = Choice(
        _final_fit(picked, values, steps, season, score, week),
        holdout,
        rmse,
        "",
        season,
        mae,
        len(errors[picked]),
        week=week if "mstl" in candidates else 0,
    )
    # Said, not acted on: keeping seasonal naive whenever the lead was within the noise lost more
    # than it saved on the development cuts (wine and beer wins became ties; no loss was avoided).
    if picked != "seasonal_naive" and picked in relative and _within_noise(relative[picked]):
        choice.tie = picked
    choice.reason = _reason(choice, picked, order, score)
    return choice


def _reason(choice: Choice, picked: str, order: list[str], score: dict[str, float]) -> str:
    mae = choice.holdout_mae
    others = ", ".join(f"{mae[c]:.4g} {c.replace('_', ' ')}" for c in order if c != picked)
    weighted = " (recent ones weighted more)" if choice.folds > 1 else ""
    if choice.tie:
        return (
            f"auto chose {picked.replace('_', ' ')} ({score[picked]:.2f}× seasonal naive's error on "
            f"{choice.where()}{weighted}), but it won on some origins and lost on others by more than "
            "that edge: against seasonal naive this is a tie within the noise"
        )
    if picked == "seasonal_naive" and len(order) > 1:
        return (
            f"auto chose seasonal naive: no model beat it on {choice.where()} "
            f"(MAE {mae[picked]:.4g} vs {others})"
        )
    name = picked.replace("_", " ")
    return f"auto chose {name}: holdout MAE {mae[picked]:.4g} vs {others} on {choice.where()}{weighted}"


_IN_LOGS = ["ets_log", "holt_winters_log"]
_WEEKLY = ["weekly_naive", "mstl"]
_NOISE_Z = 1.0  # a model must beat seasonal naive by this many standard errors of its mean log ratio
_MEMBERS = 3  # models in the ensemble: the best three by score, seasonal naive among them if it ranks
_BASE = (
    "seasonal_naive",
    "ets",
    "theta",
    "holt_winters",
    "linear",
    "holt",
    "ets_log",
    "holt_winters_log",
    "stl",
    "weekly_naive",
    "mstl",
)


def _scores(relative: dict[str, list[tuple[int, float]]], exclude: int | None = None) -> dict[str, float]:
    """Weighted geometric mean of each model's per-origin ratio to seasonal naive (AvgRelMAE),
    leaving out origin `exclude` when given."""
    out = {}
    for name, runs in relative.items():
        kept = [(k, math.log(max(r, 1e-12))) for k, r in runs if k != exclude]
        if kept:
            out[name] = math.exp(_weighted(kept))
    return out


def _members(score: dict[str, float]) -> list[str]:
    ranked = sorted((name for name in _BASE if name in score), key=lambda name: score[name])
    return ranked[:_MEMBERS]


def _add_ensemble(origins: list[tuple[int, np.ndarray, dict[str, list[float]]]]) -> None:
    """The median of the best three models, as a candidate judged on the same origins.

    Which three is decided on the *other* origins (leave one out), so an origin never helps choose
    the members it then scores: the ensemble's holdout error is as honest as a single model's.
    """
    from agents.data_analysis import seasonal

    ratios: dict[str, list[tuple[int, float]]] = {}
    for fold, test, found in origins:
        naive = _mae(test, found["seasonal_naive"]) if "seasonal_naive" in found else 0.0
        if naive > 0:
            for name, predicted in found.items():
                ratios.setdefault(name, []).append((fold, _mae(test, predicted) / naive))
    for fold, _, found in origins:
        members = [m for m in _members(_scores(ratios, exclude=fold)) if m in found]
        if len(members) >= 2:
            found["ensemble"] = seasonal.median_rows([found[m] for m in members])


def _final_fit(
    picked: str, values: np.ndarray, steps: int, season: int, score: dict[str, float], week: int = 0
) -> Fit:
    if picked != "ensemble":
        return _fitter(picked, season, week)(values, steps)
    members = _members(score)
    fits = []
    for name in members:
        try:
            fits.append(_fitter(name, season, week)(values, steps))
        except (ValueError, ArithmeticError, IndexError) as exc:
            log_skip(name, exc)
    from agents.data_analysis import seasonal

    if not fits:  # every member failed on the full history: the benchmark everything was judged by
        return seasonal.seasonal_naive(values, steps, season)
    return seasonal.median_of(fits, season)


def _within_noise(runs: list[tuple[int, float]]) -> bool:
    """Is a model's edge over seasonal naive within the spread of its per-origin log ratios?"""
    if len(runs) < 3:
        return False
    logs = [math.log(max(r, 1e-12)) for _, r in runs]
    mean = _weighted([(k, v) for (k, _), v in zip(runs, logs, strict=True)])
    spread = math.sqrt(sum((v - mean) ** 2 for v in logs) / (len(logs) - 1))
    return mean + _NOISE_Z * spread / math.sqrt(len(logs)) >= 0


def log_skip(name: str, exc: Exception) -> None:
    from spotrun.logs import get_logger

    get_logger("agents.data_analysis").info("forecast model skipped", model=name, reason=str(exc)[:200])
