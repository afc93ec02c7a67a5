"""Dates of a series: which column holds them, how often they step, and the next ones on the calendar.

Months are stepped by the calendar, never by a median number of days: 30.4-day steps drift
(03-04, 04-04, 05-05 …) and lose month ends. Season lengths for forecasting come from here too.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

_DAY = 86400.0
# (name, months per step, season length in steps): a year of steps is the usual season.
_MONTHLY = {1: ("monthly", 12), 3: ("quarterly", 4), 6: ("half-yearly", 2), 12: ("yearly", 1)}
# (name, step in seconds, season length): a week of days, a year of weeks, a day of hours.
_FIXED = {
    7 * _DAY: ("weekly", 52),
    _DAY: ("daily", 7),
    3600.0: ("hourly", 24),
    60.0: ("minutely", 60),
}
_REGULAR_SHARE = 0.8  # of the steps must agree before a frequency is named
# Steps within a day that divide it (every 5, 10, 15, 20, 30 minutes …): a day of steps is the season,
# up to 288 steps (5-minute data); finer steps are left to the autocorrelation.
_MAX_DAY_STEPS = 288
_MAX_WEEK_STEPS = 700  # a week of 15-minute steps (672) and coarser is weighed as a second season


@dataclass(frozen=True)
class Frequency:
    name: str  # "monthly", "weekly", "every 2 days" …
    season: int  # steps in one seasonal cycle (1: none known)
    months: int = 0  # calendar months per step; 0 for a fixed step
    seconds: float = 0.0  # fixed step length
    month_end: bool = False  # every date is the last day of its month
    day: int = 1  # the day of month month-stepped dates fall on
    week: int = 0  # steps in a week, a second season of sub-daily data (0: none)


def date_column(frame: pl.DataFrame, exclude: str | None = None) -> str | None:
    """The first Date/Datetime column, the one a user means by "over time" when they name none."""
    for name, dtype in frame.schema.items():
        if name != exclude and dtype.is_temporal() and str(dtype).startswith(("Date", "Datetime")):
            return name
    return None


def _month_index(value: dt.date) -> int:
    return value.year * 12 + value.month


def _is_month_end(value: dt.date) -> bool:
    return value.day == calendar.monthrange(value.year, value.month)[1]


def _seconds(a: dt.date, b: dt.date) -> float:
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return (b - a).total_seconds()
    return (b - a).days * _DAY


def infer(dates: list[dt.date]) -> Frequency | None:
    """The frequency most steps agree on, or None when they are irregular or fewer than two."""
    if len(dates) < 2:
        return None
    months = Counter(_month_index(b) - _month_index(a) for a, b in pairwise(dates))
    step_months, count = months.most_common(1)[0]
    spans = [_seconds(a, b) for a, b in pairwise(dates)]
    # Month steps: the month number moves by a constant and the gap is 28-31 days per month.
    if step_months in _MONTHLY and count >= _REGULAR_SHARE * len(spans):
        per_month = sorted(s / step_months / _DAY for s in spans)[len(spans) // 2]
        if 27 <= per_month <= 32:
            name, season = _MONTHLY[step_months]
            days = Counter(d.day for d in dates)
            return Frequency(
                name,
                season,
                months=step_months,
                month_end=all(_is_month_end(d) for d in dates),
                day=days.most_common(1)[0][0],
            )
    seconds = Counter(spans)
    step, count = seconds.most_common(1)[0]
    if step <= 0 or count < _REGULAR_SHARE * len(spans):
        return None
    if step in _FIXED:
        name, season = _FIXED[step]
    elif step < _DAY and step % 60 == 0:
        whole_day = _DAY % step == 0 and _DAY / step <= _MAX_DAY_STEPS
        name, season = f"every {step / 60:g} minutes", int(_DAY / step) if whole_day else 1
    elif step % _DAY == 0:
        name, season = f"every {step / _DAY:g} days", 1
    else:
        name, season = f"every {step:g} s", 1
    daily = step < _DAY and season > 1 and season * step == _DAY  # the season is a day (not minutely's hour)
    week = 7 * season if daily and 7 * season <= _MAX_WEEK_STEPS else 0
    return Frequency(name, season, seconds=step, week=week)


def _add_months(value: dt.date, months: int, freq: Frequency) -> dt.date:
    index = _month_index(value) - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    day = last if freq.month_end else min(freq.day, last)
    return value.replace(year=year, month=month, day=day)


def future(last: Any, freq: Frequency, steps: int) -> list[Any]:
    """The next `steps` dates after `last`, each counted from `last` (no accumulated drift)."""
    if freq.months:
        return [_add_months(last, freq.months * k, freq) for k in range(1, steps + 1)]
    if isinstance(last, dt.datetime):
        return [last + dt.timedelta(seconds=freq.seconds * k) for k in range(1, steps + 1)]
    return [last + dt.timedelta(days=freq.seconds * k / _DAY) for k in range(1, steps + 1)]
