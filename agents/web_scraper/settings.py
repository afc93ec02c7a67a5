"""Settings of the web-scraper agent (env prefix SPOTRUN_SCRAPER_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, IPvAnyNetwork
from pydantic_settings import BaseSettings, SettingsConfigDict

from spotrun.settings_types import CommaList

DEFAULT_USER_AGENT = "spotrun-scraper/0.1 (+https://github.com/spotrun/spotrun; Discord bot page reader)"


class ScraperSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_SCRAPER_", extra="ignore")

    allow_private_networks: bool = Field(
        default=False,
        description="UNSAFE in production: let the scraper reach private and loopback addresses "
        "(local development and tests only). Link-local/metadata addresses stay blocked.",
    )
    allowed_networks: CommaList[IPvAnyNetwork] = Field(
        default=(),
        description="CIDRs (comma list) exempted from the private-address block, e.g. an internal wiki; "
        "keep narrow",
    )
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_body_mb: float = Field(default=5.0, gt=0, le=100)
    fetch_timeout_s: float = Field(default=20.0, gt=0, le=300)
    connect_timeout_s: float = Field(default=8.0, gt=0, le=60)
    user_agent: str = Field(default=DEFAULT_USER_AGENT, min_length=1, max_length=300)
    extractor: Literal["auto", "fast", "trafilatura"] = Field(
        default="auto",
        description="auto: tuned trafilatura, its full path or our lexbor extractor when it finds little; "
        "fast: lexbor only; trafilatura: its fast path only",
    )
    render_js: bool = Field(default=False, description="honour render_js=true with headless Chromium")
    chromium_path: str = "/usr/bin/chromium"
    render_timeout_s: float = Field(default=20.0, gt=0, le=120)
    render_concurrency: int = Field(default=2, ge=1, le=16)
    # Caps of one render, decided before anything is loaded: a page may ask for any number of
    # sub-resources of any size; past these the browser is refused them and the render goes on.
    render_max_requests: int = Field(
        default=60,
        ge=1,
        le=1000,
        description="sub-resources (scripts, styles, XHR, frames) fetched per render",
    )
    render_max_resource_mb: float = Field(
        default=2.0, gt=0, le=20, description="largest single sub-resource handed to the browser"
    )
    render_max_total_mb: float = Field(
        default=12.0, gt=0, le=200, description="all sub-resources of one render together"
    )
    render_max_dom_mb: float = Field(
        default=5.0, gt=0, le=50, description="the rendered HTML; past it the page as served is shown"
    )
    render_js_heap_mb: int = Field(
        default=256, ge=32, le=4096, description="V8 heap of a page's scripts; past it the tab crashes alone"
    )
    extract_max_chars: int = Field(default=6000, ge=100, le=16_000)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)
