"""`chart` and the forecast plot: matplotlib (Agg, imported lazily) rendering of DataFrame columns to PNG."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.common import AgentFailure
from agents.data_analysis.loader import require_columns
from agents.data_analysis.settings import AnalysisSettings
from spotrun.protocol import ChartArgs, ErrorCode

if TYPE_CHECKING:
    import polars as pl
    from matplotlib.figure import Figure

_MAX_SERIES = 4  # default y columns when none are named: more lines are unreadable


@dataclass
class Chart:
    png: bytes
    title: str
    x: str | None
    y: list[str]
    notes: list[str] = field(default_factory=list)


def new_figure(settings: AnalysisSettings) -> Figure:
    # Figure() without pyplot: no global state, safe from several threads at once.
    from matplotlib.figure import Figure

    return Figure(
        figsize=(settings.chart_width_in, settings.chart_height_in),
        dpi=settings.chart_dpi,
        layout="constrained",
    )


def to_png(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _numeric(frame: pl.DataFrame) -> list[str]:
    return [c for c, t in frame.schema.items() if t.is_numeric()]


def _require_numeric(frame: pl.DataFrame, names: list[str], role: str) -> None:
    for name in names:
        dtype = frame.schema[name]
        if not dtype.is_numeric():
            numeric = ", ".join(_numeric(frame)) or "none"
            raise AgentFailure(
                ErrorCode.INVALID_ARGUMENT,
                f"column {name!r} is {dtype} — {role} needs numbers; numeric columns: {numeric}",
            )


def _resolve(frame: pl.DataFrame, args: ChartArgs) -> tuple[str | None, list[str]]:
    """Named columns, or sensible defaults: a non-numeric (or first) column as x, numbers as y."""
    require_columns([c for c in [args.x, *args.y] if c], frame.columns)
    numeric = _numeric(frame)
    x, y = args.x, list(args.y)
    if args.kind == "histogram":
        y = y or ([x] if x else numeric[:1])
        return None, y
    if args.kind == "scatter":
        if x is None:
            x = next((c for c in numeric if c not in y), None)
        y = y or [c for c in numeric if c != x][:1]
        if x is None or not y:
            raise AgentFailure(
                ErrorCode.INVALID_ARGUMENT,
                "a scatter chart needs two numeric columns; "
                f"numeric columns: {', '.join(numeric) or 'none'} — name them with x= and y=",
            )
        _require_numeric(frame, [x], "a scatter chart's x")
        return x, y
    if x is None:
        others = [c for c in frame.columns if c not in numeric and c not in y]
        x = others[0] if others else None
    y = y or [c for c in numeric if c != x][:_MAX_SERIES]
    return x, y


def render_chart(frame: pl.DataFrame, args: ChartArgs, settings: AnalysisSettings) -> Chart:
    """Blocking (run in a thread)."""
    import polars as pl

    x, y = _resolve(frame, args)
    if not y:
        raise AgentFailure(
            ErrorCode.INVALID_ARGUMENT,
            f"nothing to plot: {frame.columns} has no numeric column — name one with y=",
        )
    _require_numeric(frame, y, f"a {args.kind} chart's y")
    notes: list[str] = []
    fig = new_figure(settings)
    ax = fig.add_subplot()
    title = args.title or _default_title(args.kind, x, y)

    if args.kind == "histogram":
        for name in y:
            values = frame.get_column(name).drop_nulls().cast(pl.Float64).to_numpy()
            ax.hist(values, bins="auto", alpha=0.6 if len(y) > 1 else 0.9, label=name)
        ax.set_xlabel(", ".join(y))
        ax.set_ylabel("count")
    elif args.kind == "bar":
        data, note = _bars(frame, x, y, settings.max_bars)
        if note:
            notes.append(note)
        labels = [str(v) for v in data.get_column(x)] if x else [str(i) for i in range(data.height)]
        width = 0.8 / len(y)
        for i, name in enumerate(y):
            positions = [p + (i - (len(y) - 1) / 2) * width for p in range(len(labels))]
            ax.bar(positions, data.get_column(name).to_list(), width=width, label=name)
        ax.set_xticks(
            range(len(labels)),
            labels,
            rotation=45 if len(labels) > 8 else 0,
            ha="right" if len(labels) > 8 else "center",
        )
        ax.set_xlabel(x or "row")
        ax.set_ylabel(", ".join(y))
    else:
        data = frame if x is None else frame.sort(x, nulls_last=True)
        step = max(1, data.height // settings.max_chart_points)
        if step > 1:
            data = data.gather_every(step)
            notes.append(f"{frame.height:,} rows thinned to every {step}th for the chart")
        xs = data.get_column(x).to_list() if x else list(range(data.height))
        for name in y:
            if args.kind == "scatter":
                ax.scatter(xs, data.get_column(name).to_list(), s=12, alpha=0.7, label=name)
            else:
                ax.plot(xs, data.get_column(name).to_list(), linewidth=1.5, label=name)
        ax.set_xlabel(x or "row")
        ax.set_ylabel(", ".join(y))
        if x and not frame.schema[x].is_numeric():
            fig.autofmt_xdate()
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(y) > 1:
        ax.legend()
    return Chart(png=to_png(fig), title=title, x=x, y=y, notes=notes)


def _bars(frame: pl.DataFrame, x: str | None, y: list[str], max_bars: int) -> tuple[pl.DataFrame, str | None]:
    """One bar per x value: repeated x values are summed, and only the largest `max_bars` are kept."""
    import polars as pl

    if x is None:
        data = frame.select(y).head(max_bars)
        note = f"first {max_bars} of {frame.height:,} rows shown" if frame.height > max_bars else None
        return data, note
    data = frame.group_by(x, maintain_order=True).agg([pl.col(c).sum() for c in y])
    note = None
    if data.height < frame.height:
        note = f"rows with the same {x} are summed"
    if data.height > max_bars:
        note = f"largest {max_bars} of {data.height:,} {x} values by {y[0]}" + (f"; {note}" if note else "")
        data = data.sort(y[0], descending=True, nulls_last=True).head(max_bars)
    return data, note


def _default_title(kind: str, x: str | None, y: list[str]) -> str:
    if kind == "histogram":
        return f"Distribution of {', '.join(y)}"
    return f"{', '.join(y)} by {x or 'row'}"


def forecast_png(
    history_x: list[Any],
    history: list[float],
    future_x: list[Any],
    forecast: list[float],
    band: tuple[list[float], list[float]] | None,
    band_label: str,
    title: str,
    x_label: str,
    y_label: str,
    settings: AnalysisSettings,
) -> bytes:
    """History as a line, the forecast dashed, and the interval (lower, upper) shaded."""
    fig = new_figure(settings)
    ax = fig.add_subplot()
    ax.plot(history_x, history, linewidth=1.5, label="history")
    # Join the forecast to the last observed point so the two lines read as one series.
    ax.plot(
        [history_x[-1], *future_x],
        [history[-1], *forecast],
        linestyle="--",
        linewidth=1.8,
        marker="o",
        markersize=3,
        label="forecast",
    )
    if band:
        ax.fill_between(future_x, band[0], band[1], alpha=0.2, label=band_label)
    ax.set_title(title)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3)
    ax.legend()
    if history_x and hasattr(history_x[0], "isoformat"):
        fig.autofmt_xdate()
    return to_png(fig)
