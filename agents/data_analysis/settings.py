"""Settings of the data-analysis agent (env prefix SPOTRUN_ANALYSIS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnalysisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_ANALYSIS_", extra="ignore")

    max_file_mb: float = Field(default=25.0, gt=0, le=512, description="largest input file accepted")
    max_rows: int = Field(default=2_000_000, ge=1, description="most data rows read from one file")
    max_columns: int = Field(default=500, ge=1, description="most columns read from one file")
    max_decoded_mb: float = Field(
        default=512.0,
        gt=0,
        description="largest table accepted once decoded (numbers 8 bytes a cell, text its bytes); "
        "checked before decoding from the Parquet footer or rows × columns",
    )
    max_json_depth: int = Field(
        default=20,
        ge=2,
        le=200,
        description="deepest nesting of JSON arrays/objects accepted (records are 2)",
    )
    max_parquet_footer_kb: int = Field(default=8192, ge=64, description="largest Parquet footer read")
    max_parquet_chunks: int = Field(
        default=50_000, ge=1, description="most column chunks (row groups × columns) in one Parquet file"
    )
    csv_batch_mb: float = Field(
        default=8.0,
        gt=0,
        le=512,
        description="a CSV upload received in pieces is parsed in batches of about this size, each "
        "freed once parsed; a smaller file is read whole",
    )
    infer_rows: int = Field(default=10_000, ge=100, description="rows polars reads to infer column types")
    top_categories: int = Field(default=5, ge=1, le=20, description="top values listed per text column")
    max_correlations: int = Field(default=5, ge=0, le=50, description="strongest pairs reported")
    max_numeric_for_corr: int = Field(
        default=30, ge=2, description="numeric columns considered for correlations (pairs grow as n²)"
    )
    chart_width_in: float = Field(default=10.0, gt=1, le=30)
    chart_height_in: float = Field(default=5.5, gt=1, le=30)
    chart_dpi: int = Field(default=100, ge=50, le=300)
    max_chart_points: int = Field(
        default=20_000, ge=100, description="line/scatter series are thinned to this many points"
    )
    max_bars: int = Field(default=30, ge=2, le=200, description="most bars in a bar chart")
    holdout_fraction: float = Field(
        default=0.2, gt=0, lt=0.5, description="share of history `auto` holds out to compare methods"
    )
    max_history: int = Field(default=100_000, ge=10, description="most recent points a forecast is fitted on")
    blas_threads: int = Field(
        default=1,
        ge=0,
        description="BLAS threads for the process, set at startup (0 = the library's default): "
        "statsmodels' fits and the correlations ran several times faster with one on a busy 2-core machine",
    )
