"""Seasonal forecasting: season length, seasonal naive and mean, statsmodels' ETS/Theta/Holt-Winters/STL.

statsmodels (with scipy) is imported only when a seasonal fit runs, so `/health` and `analyze` never
pay its ~1.5 s import; the first seasonal `predict` of an instance does, once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agents.data_analysis.forecast import Fit

if TYPE_CHECKING:
    import numpy as np

_Z95 = 1.959963984540054
_MIN_ACF = 0.3  # autocorrelation a lag needs before it is called a season
# ETS forms tried (error, trend, damped, seasonal), chosen by AICc as AutoETS does.
_ETS_FORMS = (
    ("add", None, False, None),
    ("add", "add", True, None),
    ("add", None, False, "add"),
    ("add", "add", True, "add"),
)
# Seasonal forms start from statsmodels' heuristic initial states: estimating every seasonal state
# by optimisation took 8-12 s per fit here (m = 7 on 1,500 points; m = 52 on 2,200) for a holdout
# error within a few % (El Niño 0.72 vs 0.69 of seasonal naive's).


def acf_season(values: np.ndarray, max_period: int | None = None) -> int:
    """The season length the autocorrelation shows (1 if none): the first clear ACF peak.

    The series is detrended by a straight line first, so a trend does not read as a long season.
    A peak must be a local maximum above 0.3, and the first lag within 90 % of the best peak wins,
    so a season of 12 is not reported as 24.
    """
    import numpy as np

    n = len(values)
    limit = min(max_period or n // 2, n // 2)
    if limit < 2:
        return 1
    t = np.arange(n, dtype=float)
    residual = values - np.polyval(np.polyfit(t, values, 1), t)
    residual = residual - residual.mean()
    denom = float(residual @ residual)
    if denom == 0:
        return 1
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(residual, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: limit + 2] / denom
    peaks = [
        lag
        for lag in range(2, limit + 1)
        if acf[lag] > _MIN_ACF and acf[lag] >= acf[lag - 1] and acf[lag] >= acf[lag + 1]
    ]
    if not peaks:
        return 1
    best = max(acf[lag] for lag in peaks)
    return next(lag for lag in peaks if acf[lag] >= 0.9 * best)


def seasonal_naive(values: np.ndarray, steps: int, season: int) -> Fit:
    """Repeat the last season; the interval widens with each season ahead (Hyndman & Athanasopoulos 5.5)."""
    import numpy as np

    m = max(1, season)
    forecast = np.resize(values[-m:], steps) if len(values) >= m else np.full(steps, values[-1])
    residuals = values[m:] - values[:-m]
    sigma = float(np.sqrt(np.mean(residuals**2))) if residuals.size else 0.0
    widths = [_Z95 * sigma * math.sqrt((k - 1) // m + 1) for k in range(1, steps + 1)]
    return Fit(
        "seasonal_naive",
        forecast.tolist(),
        {"season": float(m)},
        sigma,
        lower=[f - w for f, w in zip(forecast.tolist(), widths, strict=True)],
        upper=[f + w for f, w in zip(forecast.tolist(), widths, strict=True)],
        label=f"seasonal naive (m={m})",
    )


def seasonal_mean(values: np.ndarray, steps: int, season: int) -> Fit:
    """Each position of the season forecast by its mean over every full season of the history.

    Where a series swings around a steady seasonal pattern (sea temperature through El Niño and La
    Niña years), last season's departure from the usual is as likely to reverse as to repeat, and
    the long-run mean of each month beats repeating last year. A series with a trend or a moving
    level makes it lose on the held-out origins, so it is chosen only where it has earned it there.
    Interval: the spread of the values around their season position's mean.
    """
    import numpy as np

    m = season
    if m < 2 or len(values) < 3 * m:
        raise ValueError("a seasonal mean needs three full seasons")
    seasons = len(values) // m
    # The last `seasons * m` points, so row position k is the same season position in every row
    # and the forecast's first step is the position after the last observed point.
    table = np.asarray(values[-seasons * m :], dtype=float).reshape(seasons, m)
    means = table.mean(axis=0)
    sigma = float(np.sqrt(np.mean((table - means) ** 2)))
    forecast = np.resize(means, steps)
    width = _Z95 * sigma
    return Fit(
        "seasonal_mean",
        forecast.tolist(),
        {},  # the number of seasons averaged is in the label
        sigma,
        lower=(forecast - width).tolist(),
        upper=(forecast + width).tolist(),
        label=f"mean of each position over the last {seasons} seasons (m={m})",
    )


def _series(values: np.ndarray) -> Any:
    import pandas as pd

    # statsmodels 0.15's ETS prediction needs an index (it reads `.index` off the mean).
    return pd.Series(values, dtype=float)


def _ets_form(values: np.ndarray, season: int) -> tuple[Any, tuple[Any, ...]]:
    """The ETS form with the lowest AICc on `values`, fitted."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    best: tuple[float, Any, tuple[Any, ...]] | None = None
    # With a usable season only the seasonal forms compete (each fit costs up to seconds; the
    # non-seasonal ones are what Holt and linear already cover in the holdout).
    usable = season >= 2 and len(values) >= 2 * season + 2
    for form in _ETS_FORMS:
        if bool(form[3]) != usable:
            continue
        result = _fit_ets(ETSModel, values, form, season)
        if result is not None and math.isfinite(result.aicc) and (best is None or result.aicc < best[0]):
            best = (result.aicc, result, form)
    if best is None:
        raise ValueError("no ETS form could be fitted")
    return best[1], best[2]


def _fit_ets(model: Any, values: np.ndarray, form: tuple[Any, ...], season: int) -> Any:
    import numpy as np

    error, trend, damped, seasonal = form
    init = "heuristic" if seasonal else "estimated"
    try:
        return model(
            _series(values),
            error=error,
            trend=trend,
            damped_trend=damped,
            seasonal=seasonal,
            seasonal_periods=season if seasonal else None,
            initialization_method=init,
        ).fit(disp=False, maxiter=300)
    except (ValueError, np.linalg.LinAlgError):  # a form that cannot start on this series is skipped
        return None


def _form_name(form: tuple[Any, ...]) -> str:
    error, trend, damped, seasonal = form
    letter = {None: "N", "add": "A", "mul": "M"}
    return f"ETS({letter[error]},{letter[trend]}{'d' if damped else ''},{letter[seasonal]})"


def ets(values: np.ndarray, steps: int, season: int) -> Fit:
    """statsmodels' ETS: the form by AICc, its analytic 95 % prediction interval."""
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from the optimiser is not the user's concern
        result, form = _ets_form(values, season)
        n = len(values)
        prediction = result.get_prediction(start=n, end=n + steps - 1)
        mean = np.asarray(prediction.predicted_mean, dtype=float)
        interval = np.asarray(prediction.pred_int(alpha=0.05), dtype=float)
    params = {k: float(v) for k, v in zip(result.param_names, result.params, strict=False) if k in _SHOWN}
    return Fit(
        "ets",
        mean.tolist(),
        params,
        float(np.sqrt(result.mse)),
        lower=interval[:, 0].tolist(),
        upper=interval[:, 1].tolist(),
        label=_form_name(form) + (f", m={season}" if form[3] else ""),
    )


_SHOWN = {"smoothing_level", "smoothing_trend", "smoothing_seasonal", "damping_trend"}


def stl(values: np.ndarray, steps: int, season: int) -> Fit:
    """STL decomposition, then a damped-trend ETS on the seasonally adjusted series; the last STL
    season is added back. Its interval is the ETS interval of the adjusted series (statsmodels'
    STLForecast)."""
    import numpy as np
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.forecasting.stl import STLForecast

    if season < 2 or len(values) < 2 * season + 2:
        raise ValueError("STL needs two full seasons")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = STLForecast(
            _series(values),
            ETSModel,
            model_kwargs={"error": "add", "trend": "add", "damped_trend": True},
            period=season,
            robust=True,
        ).fit(fit_kwargs={"disp": False, "maxiter": 300})
        n = len(values)
        prediction = result.get_prediction(start=n, end=n + steps - 1)
        mean = np.asarray(prediction.predicted_mean, dtype=float)
        interval = np.asarray(prediction.conf_int(alpha=0.05), dtype=float)
    if not (np.isfinite(mean).all() and np.isfinite(interval).all()):
        raise ArithmeticError("STL forecast is not finite")
    return Fit(
        "stl",
        mean.tolist(),
        {},
        float(np.sqrt(np.mean(np.asarray(result.model_result.resid, dtype=float) ** 2))),
        lower=interval[:, 0].tolist(),
        upper=interval[:, 1].tolist(),
        label=f"STL (robust) + ETS(A,Ad,N) on the adjusted series, m={season}",
    )


def weekly_naive(values: np.ndarray, steps: int, season: int, week: int) -> Fit:
    """The same time last week, for sub-daily data whose days are not alike (weekdays and weekends)."""
    if week < 2 * season or len(values) < week:
        raise ValueError("the same time last week needs a week of history")
    fit = seasonal_naive(values, steps, week)
    fit.method = "weekly_naive"
    fit.label = f"the same time last week (m={week})"
    return fit


def mstl(values: np.ndarray, steps: int, season: int, week: int) -> Fit:
    """MSTL with a daily and a weekly season (statsmodels), then a damped-trend ETS on the adjusted
    values; each season's last cycle is added back. For sub-daily data, where a day and a week are
    both seasons (electricity demand: weekday and weekend days differ). Interval: the ETS interval of
    the adjusted values."""
    import numpy as np
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.seasonal import MSTL

    if week < 2 * season or len(values) < 2 * week + 2:
        raise ValueError("MSTL needs two full weeks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A locally constant seasonal smoother (degree 0), as R's forecast::mstl and statsforecast's
        # MSTL use: on the sub-daily development cuts it took the agent from 0.625 to 0.544 of
        # repeating yesterday's error (statsforecast's MSTL run directly: 0.490).
        decomposition = MSTL(
            np.asarray(values, dtype=float), periods=(season, week), stl_kwargs={"seasonal_deg": 0}
        )
        parts = np.asarray(decomposition.fit().seasonal)
        adjusted = np.asarray(values, dtype=float) - parts.sum(axis=1)
        result = ETSModel(_series(adjusted), error="add", trend="add", damped_trend=True).fit(
            disp=False, maxiter=300
        )
        n = len(values)
        prediction = result.get_prediction(start=n, end=n + steps - 1)
        mean = np.asarray(prediction.predicted_mean, dtype=float)
        interval = np.asarray(prediction.pred_int(alpha=0.05), dtype=float)
    # np.resize from the last cycle: step 1 is one season (one week) after the point it repeats.
    again = np.resize(parts[-season:, 0], steps) + np.resize(parts[-week:, 1], steps)
    mean, interval = mean + again, interval + again[:, None]
    if not (np.isfinite(mean).all() and np.isfinite(interval).all()):
        raise ArithmeticError("MSTL forecast is not finite")
    return Fit(
        "mstl",
        mean.tolist(),
        {},
        float(np.sqrt(result.mse)),
        lower=interval[:, 0].tolist(),
        upper=interval[:, 1].tolist(),
        label=f"MSTL (daily m={season}, weekly m={week}) + ETS(A,Ad,N) on the adjusted series",
    )


def theta(values: np.ndarray, steps: int, season: int) -> Fit:
    """statsmodels' Theta method (deseasonalised when a season is known), with its 95 % interval."""
    import numpy as np
    from statsmodels.tsa.forecasting.theta import ThetaModel

    seasonal = season >= 2 and len(values) >= 2 * season
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ThetaModel(_series(values), period=season if seasonal else 1, deseasonalize=seasonal).fit()
        mean = np.asarray(result.forecast(steps), dtype=float)
        interval = np.asarray(result.prediction_intervals(steps, alpha=0.05), dtype=float)
    return Fit(
        "theta",
        mean.tolist(),
        {"theta": 2.0},
        float(np.sqrt(result.sigma2)),
        lower=interval[:, 0].tolist(),
        upper=interval[:, 1].tolist(),
        label=f"deseasonalised, m={season}" if seasonal else "no season",
    )


def holt_winters(values: np.ndarray, steps: int, season: int) -> Fit:
    """statsmodels' Holt-Winters: damped additive trend, additive season; interval from its residuals."""
    import numpy as np
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = season >= 2 and len(values) >= 2 * season
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ExponentialSmoothing(
            _series(values),
            trend="add",
            damped_trend=True,
            seasonal="add" if seasonal else None,
            seasonal_periods=season if seasonal else None,
        ).fit()
        mean = np.asarray(result.forecast(steps), dtype=float)
    sigma = float(np.sqrt(result.sse / max(1, len(values))))
    widths = [_Z95 * sigma * math.sqrt(k) for k in range(1, steps + 1)]
    return Fit(
        "holt_winters",
        mean.tolist(),
        {
            k: float(v)
            for k, v in result.params.items()
            if k in _HW_SHOWN and v is not None and math.isfinite(v)
        },
        sigma,
        lower=[f - w for f, w in zip(mean.tolist(), widths, strict=True)],
        upper=[f + w for f, w in zip(mean.tolist(), widths, strict=True)],
        label="damped additive trend" + (f", additive season, m={season}" if seasonal else ""),
    )


_HW_SHOWN = {"smoothing_level", "smoothing_trend", "smoothing_seasonal", "damping_trend"}
COMBINED = ("ets", "theta", "holt_winters")


def combine(fits: list[Fit], season: int) -> Fit:
    """The mean of ETS, Theta and Holt-Winters: averaging forecasts is robust where any one model
    can be badly wrong (the lesson of the M3/M4 competitions). Interval: the mean of theirs."""
    steps = len(fits[0].forecast)

    def mean(rows: list[list[float]]) -> list[float]:
        return [sum(r[i] for r in rows) / len(rows) for i in range(steps)]

    return Fit(
        "combined",
        mean([f.forecast for f in fits]),
        {},
        sum(f.fit_rmse for f in fits) / len(fits),
        lower=mean([f.lower or f.forecast for f in fits]),
        upper=mean([f.upper or f.forecast for f in fits]),
        label=f"mean of {', '.join(f.label or f.method for f in fits)}",
    )


def median_rows(rows: list[list[float]]) -> list[float]:
    """The step-by-step median of several forecasts."""
    import numpy as np

    return [float(v) for v in np.median(np.asarray(rows, dtype=float), axis=0)]


def median_of(fits: list[Fit], season: int) -> Fit:
    """The step-by-step median of the given models' forecasts (and of their interval bounds): a
    model badly wrong on a step is outvoted there instead of averaged in."""
    import numpy as np

    return Fit(
        "ensemble",
        median_rows([f.forecast for f in fits]),
        {},
        float(np.median([f.fit_rmse for f in fits])),
        lower=median_rows([f.lower or f.forecast for f in fits]),
        upper=median_rows([f.upper or f.forecast for f in fits]),
        label=f"median of {', '.join(f.label or f.method for f in fits)}",
    )


def in_logs(fitter: Callable[[np.ndarray, int], Fit], values: np.ndarray, steps: int) -> Fit:
    """A model fitted to log(values), its forecast and interval taken back with exp: an additive
    model in logs is a multiplicative one in the values (a season that grows with the level, as in
    air passengers). exp of the log forecast is the median forecast, what MAE rewards."""
    import numpy as np

    fit = fitter(np.log(values), steps)

    def back(xs: list[float] | None) -> list[float] | None:
        return None if xs is None else np.exp(np.asarray(xs, dtype=float)).tolist()

    forecast = back(fit.forecast) or []
    return Fit(
        f"{fit.method}_log",  # type: ignore[arg-type]
        forecast,
        fit.params,
        # An error of e in logs is about e × the level in the values (delta method).
        fit.fit_rmse * float(np.median(values)),
        lower=back(fit.lower),
        upper=back(fit.upper),
        label=f"{fit.label}, in logs" if fit.label else "in logs",
    )
