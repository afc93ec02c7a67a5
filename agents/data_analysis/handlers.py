"""The three command handlers: load the file in a thread, compute, and shape the Discord-sized answer."""

from __future__ import annotations

import asyncio
import datetime
import itertools
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agents.common import AgentFailure, Job, Output
from agents.data_analysis import charts, dates, forecast, summary
from agents.data_analysis.loader import load_table, require_columns
from agents.data_analysis.numbers import column_format
from agents.data_analysis.settings import AnalysisSettings
from spotrun.protocol import AnalyzeArgs, ChartArgs, ErrorCode, InputFile, OutputFile, PredictArgs

if TYPE_CHECKING:
    import polars as pl

ANALYSIS: web.AppKey[AnalysisSettings] = web.AppKey("analysis", AnalysisSettings)
_MIN_POINTS = 3
_SHOWN_VALUES = 24  # forecast values listed in the text; all of them are in `data`
_MAX_SEASON = 400  # longest season looked for in the autocorrelation (daily data: a year and some)


def _png_name(stem: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)[:60].strip("_")
    return f"{safe or 'chart'}.png"


def analyze_file(
    file: InputFile, settings: AnalysisSettings, columns: list[str] | None
) -> tuple[str, dict[str, Any]]:
    """Blocking: the file's format and statistics. The upload's bytes are freed once decoded."""
    table = load_table(file, settings, columns, consume=True, compact=True)
    return table.format, summary.compute(table.frame, settings, table.compact)


async def analyze(job: Job) -> Output:
    args: AnalyzeArgs = job.args
    settings = job.app[ANALYSIS]
    file = job.file()
    async with job.heavy():  # decoding holds the table: at most the instance's heavy slots at once
        fmt, data = await asyncio.to_thread(analyze_file, file, settings, args.columns)
    text, fields = summary.render(file.name, fmt, data)
    data["format"] = fmt
    return Output(
        title=f"{file.name}: {data['rows']:,} rows × {len(data['columns'])} columns"[:256],
        text=text,
        fields=fields,
        data=data,
    )


async def chart(job: Job) -> Output:
    args: ChartArgs = job.args
    settings = job.app[ANALYSIS]
    file = job.file()

    def work() -> charts.Chart:
        return charts.render_chart(load_table(file, settings, consume=True).frame, args, settings)

    async with job.heavy():  # decoding holds the table: at most the instance's heavy slots at once
        result = await asyncio.to_thread(work)
    text = f"{args.kind.capitalize()} chart of {', '.join(result.y)}" + (
        f" by {result.x}" if result.x else ""
    )
    if result.notes:
        text += " (" + "; ".join(result.notes) + ")"
    return Output(
        title=result.title[:256],
        text=text + ".",
        files=[OutputFile(name=_png_name(result.title), content_type="image/png", data=result.png)],
        data={"kind": args.kind, "x": result.x, "y": result.y, "notes": result.notes},
    )


def _series(
    frame: pl.DataFrame, args: PredictArgs, x: str | None, settings: AnalysisSettings
) -> tuple[list[Any], Any, int]:
    """The ordered, non-null history of the column (with its x values) and how many nulls were dropped."""
    import polars as pl

    require_columns([c for c in (args.column, x) if c], frame.columns)
    dtype = frame.schema[args.column]
    if not dtype.is_numeric():
        numeric = ", ".join(c for c, t in frame.schema.items() if t.is_numeric()) or "none"
        raise AgentFailure(
            ErrorCode.INVALID_ARGUMENT,
            f"column {args.column!r} is {dtype} — a forecast needs numbers; numeric columns: {numeric}",
        )
    data = frame.select([c for c in (x, args.column) if c])
    if x:
        data = data.sort(x, nulls_last=True)
    clean = data.drop_nulls()
    dropped = data.height - clean.height
    clean = clean.tail(settings.max_history)
    values = clean.get_column(args.column).cast(pl.Float64).to_numpy()
    xs = clean.get_column(x).to_list() if x else list(range(clean.height))
    return xs, values, dropped


def _future_x(xs: list[Any], steps: int) -> tuple[list[Any], dates.Frequency | None]:
    """Continue x: dates by their calendar frequency, evenly spaced numbers by their median step,
    anything else by counting rows on."""
    if len(xs) >= 2 and isinstance(xs[-1], datetime.date):
        freq = dates.infer(xs)
        if freq is not None:
            return dates.future(xs[-1], freq, steps), freq
    return _continue(xs, steps), None


def _continue(xs: list[Any], steps: int) -> list[Any]:
    if len(xs) >= 2:
        try:
            deltas = sorted(b - a for a, b in itertools.pairwise(xs))
            step = deltas[len(deltas) // 2]
            if step:
                return [xs[-1] + step * (i + 1) for i in range(steps)]
        except TypeError:
            pass  # text x values have no arithmetic: fall through to positions
    return list(range(len(xs), len(xs) + steps))


def _held_out(choice: forecast.Choice) -> bool:
    return choice.fit.method in choice.holdout_rmse


def _fmt_x(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def seasons(values: Any, freq: dates.Frequency | None) -> tuple[int, str, int]:
    """The season length and where it came from: the dates' frequency (monthly → 12 …), else the
    autocorrelation; and a week as a second season (sub-daily dates; else 0)."""
    from agents.data_analysis import seasonal

    if freq is not None and freq.season > 1:
        return freq.season, f"{freq.name} dates", freq.week
    found = seasonal.acf_season(values, max_period=min(len(values) // 3, _MAX_SEASON))
    return found, "autocorrelation" if found > 1 else "", 0


def _interval(choice: forecast.Choice) -> tuple[list[float], list[float], str]:
    """The model's own 95 % interval, else ±1.96 × its holdout (or in-sample) RMSE."""
    fit = choice.fit
    if fit.lower is not None and fit.upper is not None:
        return fit.lower, fit.upper, "95 % prediction interval"
    error = choice.holdout_rmse.get(fit.method, fit.fit_rmse)
    source = "holdout" if _held_out(choice) else "in-sample"
    return (
        [v - 1.96 * error for v in fit.forecast],
        [v + 1.96 * error for v in fit.forecast],
        f"±1.96 × {source} RMSE",
    )


async def predict(job: Job) -> Output:
    args: PredictArgs = job.args
    settings = job.app[ANALYSIS]
    file = job.file()

    def work() -> tuple[forecast.Choice, list[Any], str | None, dates.Frequency | None, str, bytes, int, int]:
        frame = load_table(file, settings, consume=True).frame
        # No x named: a date column is what a user means by "forecast this"; rows only if there is none.
        x = args.x or dates.date_column(frame, exclude=args.column)
        xs, values, dropped = _series(frame, args, x, settings)
        if len(values) < _MIN_POINTS:
            raise AgentFailure(
                ErrorCode.INVALID_ARGUMENT,
                f"column {args.column!r} has {len(values)} non-null "
                f"values; a forecast needs at least {_MIN_POINTS}",
            )
        future, freq = _future_x(xs, args.steps)
        season, source, week = seasons(values, freq)
        try:
            choice = forecast.choose(values, args.steps, args.method, settings.holdout_fraction, season, week)
        except (ValueError, ArithmeticError, IndexError) as exc:  # a named model that cannot fit these points
            if args.method == "auto":
                raise
            raise AgentFailure(
                ErrorCode.INVALID_ARGUMENT,
                f"method={args.method} could not be fitted to {args.column!r} "
                f"({len(values)} points): {str(exc)[:200]} — try method=auto",
            ) from None
        lower, upper, band = _interval(choice)
        positions = not x or not (future and type(future[0]) is type(xs[-1]))
        plot_x = list(range(len(xs))) if positions else xs
        plot_future = list(range(len(xs), len(xs) + args.steps)) if positions else future
        png = charts.forecast_png(
            plot_x,
            values.tolist(),
            plot_future,
            choice.fit.forecast,
            (lower, upper),
            band,
            f"{args.column}: {args.steps}-step forecast ({choice.fit.label or choice.fit.method})",
            x or "row",
            args.column,
            settings,
        )
        return choice, future, x, freq, source, png, dropped, len(values)

    async with job.heavy():  # decoding holds the table: at most the instance's heavy slots at once
        choice, future, x, freq, source, png, dropped, points = await asyncio.to_thread(work)
    return _predict_output(args, choice, future, x, freq, source, png, dropped, points)


def _predict_output(
    args: PredictArgs,
    choice: forecast.Choice,
    future: list[Any],
    x: str | None,
    freq: dates.Frequency | None,
    source: str,
    png: bytes,
    dropped: int,
    points: int,
) -> Output:
    fit = choice.fit
    lower, upper, band = _interval(choice)
    params = ", ".join(f"{k}={v:.4g}" for k, v in fit.params.items())
    model = forecast.NAMES[fit.method] + (f" — {fit.label}" if fit.label else "")
    lines = [
        f"Forecast of **{args.column}** {args.steps} step(s) ahead from {points:,} points "
        f"with {model}"
        + (f" ({params})" if params else "")
        + (f", over **{x}**" + (f" ({freq.name})" if freq else "") if x else "")
        + ".",
    ]
    if choice.season > 1:
        weekly = f"; a week of {choice.week} steps weighed as a second season" if choice.week else ""
        lines.append(f"Season: {choice.season} steps (from the {source}){weekly}.")
    lines.append(choice.reason[0].upper() + choice.reason[1:] + ".")
    mae = choice.holdout_mae.get(fit.method)
    naive = choice.holdout_mae.get("seasonal_naive")
    relative = choice.relative_to_naive()
    if mae is not None and naive is not None and relative is not None and fit.method != "seasonal_naive":
        lines.append(
            f"Holdout error: MAE {mae:.4g} vs {naive:.4g} for seasonal naive "
            f"({relative:.2f}× its error) on {choice.where()}."
        )
    elif mae is not None:
        lines.append(
            f"Holdout error: MAE {mae:.4g}, RMSE {choice.holdout_rmse.get(fit.method, 0.0):.4g} on "
            f"{choice.where()} (in-sample RMSE {fit.fit_rmse:.4g})."
        )
    else:
        lines.append(f"Error estimate: in-sample RMSE {fit.fit_rmse:.4g} (too few points for a holdout).")
    lines.append(f"Interval: {band}.")
    warnings = []
    if dropped:
        warnings.append(f"{dropped} row(s) with a null {args.column}{' or ' + x if x else ''} were skipped")
    shown = column_format([*fit.forecast, *lower, *upper])
    labels = [_fmt_x(at) for at in future]
    width = max(len(label) for label in labels)
    cells = [(shown(v), shown(lo), shown(hi)) for v, lo, hi in zip(fit.forecast, lower, upper, strict=True)]
    wide = [max(len(c[i]) for c in cells) for i in range(3)]  # numbers line up on their last digit
    rows = [
        f"{label:>{width}}  {v:>{wide[0]}}  [{lo:>{wide[1]}} – {hi:>{wide[2]}}]"
        for label, (v, lo, hi) in zip(labels, cells, strict=True)
    ]
    if len(rows) > _SHOWN_VALUES:
        rows = [*rows[: _SHOWN_VALUES - 1], f"… {len(rows) - _SHOWN_VALUES + 1} more (all in the data)"]
    text = "\n".join(lines) + "\n```\n" + "\n".join(rows) + "\n```"
    return Output(
        title=f"Forecast: {args.column} (+{args.steps})"[:256],
        text=text,
        files=[OutputFile(name=_png_name(f"forecast_{args.column}"), content_type="image/png", data=png)],
        data={
            "method": fit.method,
            "model": fit.label or forecast.NAMES[fit.method],
            "requested": args.method,
            "reason": choice.reason,
            "params": fit.params,
            "points": points,
            "season": choice.season,
            "week": choice.week or None,  # a weekly second season weighed (sub-daily data)
            "holdout": choice.holdout,
            "holdout_rmse": choice.holdout_rmse,
            "holdout_mae": choice.holdout_mae,
            "relative_mae_vs_seasonal_naive": relative,
            # True when the chosen model's lead over seasonal naive is within the origins' noise.
            "tie_with_seasonal_naive": choice.tie is not None,
            "fit_rmse": fit.fit_rmse,
            "interval": band,
            "x": x,
            "frequency": freq.name if freq else None,
            "forecast": [
                {"x": label, "value": v, "lower": lo, "upper": hi}
                for label, v, lo, hi in zip(labels, fit.forecast, lower, upper, strict=True)
            ],
        },
        warnings=warnings,
    )
