"""statsforecast's AutoETS, AutoTheta and AutoARIMA on one series: JSON in on stdin, JSON out.

Run by bench/forecasting.py with the interpreter of `.venv-statsforecast` (make bench builds it from
requirements/statsforecast/requirements.txt): statsforecast caps pandas below 3, so it cannot share
the project's venv. Only the standard library, numpy and statsforecast are imported here.

    stdin:  {"train": [...], "horizon": h, "season": m, "week": w (0: none), "arima_points": n}
    stdout: {"statsforecast AutoETS": [...], ...}   (a model that fails is left out)
"""

from __future__ import annotations

import json
import sys
import warnings


def main() -> None:
    import numpy as np
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, AutoTheta

    job = json.load(sys.stdin)
    y = np.asarray(job["train"], dtype=float)
    horizon, season = int(job["horizon"]), max(1, int(job["season"]))
    models = {
        "statsforecast AutoETS": AutoETS(season_length=season),
        "statsforecast AutoTheta": AutoTheta(season_length=season),
    }
    # AutoARIMA searches seasonal orders: 15-25 s a fit on El Niño's ~700 monthly points here, and
    # far longer with m = 52 (CO₂ weekly), so it runs where a bench section can afford it.
    if season <= 24 and len(y) <= int(job["arima_points"]):
        models["statsforecast AutoARIMA"] = AutoARIMA(season_length=season)
    week = int(job.get("week") or 0)
    if week and len(y) >= 2 * week + 2:  # sub-daily data: a day and a week, AutoETS on the trend
        models["statsforecast MSTL (day and week)"] = MSTL(season_length=[season, week])
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model in models.items():
            try:
                mean = np.asarray(model.forecast(y=y, h=horizon)["mean"], dtype=float)
            except Exception as exc:  # a model that cannot fit is reported, not fatal
                print(f"{name}: {exc}", file=sys.stderr)
                continue
            if np.isfinite(mean).all():
                out[name] = mean.tolist()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
