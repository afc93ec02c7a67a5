"""Builds the data-analysis agent app: its handlers, engine probes and settings."""

from __future__ import annotations

from importlib.util import find_spec

from aiohttp import web

from agents.common import AgentSettings, AgentSpec, create_agent_app, run_agent
from agents.data_analysis import blas
from agents.data_analysis.handlers import ANALYSIS, analyze, chart, predict
from agents.data_analysis.settings import AnalysisSettings
from spotrun.config import load_settings
from spotrun.protocol import Command, EngineStatus

NAME = "data-analysis"


def engines(app: web.Application) -> dict[str, EngineStatus]:
    # find_spec, not import: /health must answer in milliseconds, before polars is ever loaded.
    return {
        name: EngineStatus(
            available=find_spec(name) is not None,
            detail="" if find_spec(name) else f"pip install 'spotrun[analysis]' ({name})",
        )
        for name in ("polars", "matplotlib")
    }


def build(settings: AgentSettings, analysis: AnalysisSettings | None = None) -> web.Application:
    analysis = analysis or load_settings(AnalysisSettings)
    app = create_agent_app(
        AgentSpec(
            name=NAME,
            handlers={Command.ANALYZE: analyze, Command.CHART: chart, Command.PREDICT: predict},
            engines=engines,
            required_engines=("polars", "matplotlib"),
            # A 458 MiB table (just under the 512 MiB decoded-size cap) grew the process by 533 MB
            # through `analyze`; 2× the cap leaves room for text columns and chart buffers.
            # Figures: docs/reliability.md "Resource caps".
            heavy_job_mb=1024,
            base_mb=256,
            max_file_bytes=int(analysis.max_file_mb * 2**20),
            reads_pieces=True,  # a CSV is parsed batch by batch as its pieces are freed
        ),
        settings,
    )
    app[ANALYSIS] = analysis
    # Here, in the main thread before any request: a BLAS limit taken later, in a request's worker
    # thread, did not hold (blas.py).
    blas.limit_process(analysis.blas_threads)
    return app


def main() -> None:
    run_agent(build, NAME)
