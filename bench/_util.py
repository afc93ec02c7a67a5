"""Small shared pieces of the benchmarks: percentiles, rows, the loopback metadata server."""

from __future__ import annotations

import os
import statistics
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Row:
    section: str
    name: str
    value: float
    unit: str
    baseline: str = ""
    ratio: float | None = None  # value / baseline value, measured in the same run
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


_metadata: Any = None


def metadata_server() -> Any:
    """The loopback GCE metadata server; started before anything imports google.auth."""
    global _metadata
    if _metadata is None:
        from tests.fakes.metadata import FakeMetadataServer

        _metadata = FakeMetadataServer()
        os.environ["GCE_METADATA_HOST"] = f"127.0.0.1:{_metadata.port}"
        os.environ["GCE_METADATA_IP"] = f"127.0.0.1:{_metadata.port}"
        os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
        _metadata.start()
    return _metadata


def render_table(rows: list[Row]) -> str:
    lines = [f"{'section':<10} {'measure':<46} {'value':>12} {'unit':<8} {'ratio':>8}  vs / note"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        value = f"{r.value:,.4g}" if abs(r.value) < 1e6 else f"{r.value:,.0f}"
        lines.append(
            f"{r.section:<10} {r.name[:46]:<46} {value:>12} {r.unit:<8} {ratio:>8}  "
            f"{r.baseline}{' · ' if r.baseline and r.note else ''}{r.note}"
        )
    return "\n".join(lines)
