"""`predict` maths: a least-squares trend, Holt's linear exponential smoothing, and holdout selection."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

Method = Literal["linear", "holt"]
NAMES: dict[str, str] = {
    "linear": "least-squares linear trend",
    "holt": "Holt's linear exponential smoothing",
}
_GRID = [round(0.05 * i, 2) for i in range(1, 20)]  # 0.05 … 0.95 for both α and β


@dataclass
class Fit:
    method: Method
    forecast: list[float]
    params: dict[str, float] = field(default_factory=dict)
    fit_rmse: float = 0.0  # in-sample one-step (holt) or residual (linear) error


@dataclass
class Choice:
    fit: Fit
    holdout: int = 0
    holdout_rmse: dict[str, float] = field(default_factory=dict)
    reason: str = ""


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


FITTERS = {"linear": linear, "holt": holt}


def _rmse(actual: np.ndarray, predicted: list[float]) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((actual - np.asarray(predicted)) ** 2)))


def choose(values: np.ndarray, steps: int, method: str, holdout_fraction: float) -> Choice:
    """Fit the named method, or for `auto` the one with the lower error on a held-out tail.

    The holdout also gives every method an honest error estimate: the model never saw those points.
    """
    n = len(values)
    holdout = max(2, round(n * holdout_fraction))
    scores: dict[str, float] = {}
    if n - holdout >= 3:
        train, test = values[:-holdout], values[-holdout:]
        candidates = ["linear", "holt"] if method == "auto" else [method]
        for name in candidates:
            scores[name] = _rmse(test, FITTERS[name](train, holdout).forecast)
    else:
        holdout = 0
    if method != "auto":
        return Choice(FITTERS[method](values, steps), holdout, scores, f"{NAMES[method]}, as requested")
    if not scores:
        return Choice(
            linear(values, steps),
            0,
            {},
            f"auto chose linear: {n} points are too few to compare methods on a holdout",
        )
    # The simpler model wins ties and near-ties (within 1 %): it extrapolates more predictably.
    picked: Method = "holt" if scores["holt"] < scores["linear"] * 0.99 else "linear"
    other = "linear" if picked == "holt" else "holt"
    reason = (
        f"auto chose {picked}: holdout RMSE {scores[picked]:.4g} vs {scores[other]:.4g} for "
        f"{other} on the last {holdout} points"
    )
    return Choice(FITTERS[picked](values, steps), holdout, scores, reason)
