"""The `scrape` and `extract` command handlers: fetch (or render), extract, shape the Output."""

from __future__ import annotations

import asyncio

from aiohttp import web

from agents.common import Job, Output
from agents.web_scraper.extract import Extraction, extract_page, plain_text
from agents.web_scraper.fetch import FETCHER, Page
from agents.web_scraper.metadata import short_date
from agents.web_scraper.query import check_selector, select
from agents.web_scraper.render import Renderer, RenderReport
from agents.web_scraper.settings import ScraperSettings
from spotrun.protocol import MAX_TEXT_CHARS, EmbedField, ExtractArgs, ScrapeArgs

SCRAPER_SETTINGS: web.AppKey[ScraperSettings] = web.AppKey("scraper_settings", ScraperSettings)
RENDERER: web.AppKey[Renderer | None] = web.AppKey("scraper_renderer")

EXCERPT_CHARS = 300
_RENDER_OFF = (
    "render_js=true was ignored: JavaScript rendering is off on this agent "
    "(the operator can enable it with SPOTRUN_SCRAPER_RENDER_JS=true); showing the page as served"
)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def truncate(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    """`text` within `limit` chars, cut at a paragraph or word with a visible marker."""
    if len(text) <= limit:
        return text, False
    marker = f"\n\n[… truncated: showing about {limit - 100:,} of {len(text):,} characters]"
    room = limit - len(marker)
    cut = text[:room]
    for sep in ("\n\n", "\n", " "):
        if (at := cut.rfind(sep)) > room * 0.8:
            cut = cut[:at]
            break
    return cut.rstrip() + marker, True


async def _page(job: Job, url: str, render_js: bool, warnings: list[str]) -> tuple[Page, RenderReport | None]:
    settings = job.app[SCRAPER_SETTINGS]
    if render_js:
        renderer = job.app[RENDERER]
        if renderer is not None:
            # A render holds a Chromium tab and its sub-resources: a heavy slot of the instance.
            async with job.heavy():
                page, report = await renderer.render(url, job.remaining())
            warnings.extend(report.warnings)
            return page, report
        warnings.append(_RENDER_OFF)
    return await job.app[FETCHER].fetch(url, min(job.remaining(), settings.fetch_timeout_s)), None


def _fields(ex: Extraction, page: Page, short: str) -> list[EmbedField]:
    meta = ex.meta
    fields = []
    if short:
        fields.append(EmbedField(name="Excerpt", value=short[:1024], inline=False))
    for name, value in (
        ("Author", meta.author),
        ("Published", short_date(meta.date)),
        ("Language", meta.language),
        ("Words", f"{ex.word_count:,}"),
        ("Links", f"{meta.links:,}"),
    ):
        if value:
            fields.append(EmbedField(name=name, value=value[:1024]))
    if page.redirects:
        fields.append(EmbedField(name="Final URL", value=page.url[:1024], inline=False))
    return fields


async def scrape(job: Job) -> Output:
    args: ScrapeArgs = job.args
    settings = job.app[SCRAPER_SETTINGS]
    warnings: list[str] = []
    page, report = await _page(job, args.url, args.render_js, warnings)
    rendered = report is not None and report.fallback is None
    if page.content_type.startswith("text/plain"):
        ex = plain_text(page.html)
    else:
        # trafilatura takes ~70 ms a page: keep the event loop serving other jobs meanwhile.
        ex = await asyncio.to_thread(extract_page, page.html, page.url, settings.extractor)
    text, cut = truncate(ex.text)
    if cut:
        warnings.append("the main text was truncated to fit one message")
    if not ex.text.strip():
        hint = "" if report is not None else " — if the page is built by JavaScript, try render_js=true"
        warnings.append(f"no main text found on the page{hint}")
    short = excerpt(ex.text)
    meta = ex.meta
    return Output(
        title=(meta.title or page.url)[:256],
        text=text or (meta.description or ""),
        fields=_fields(ex, page, short),
        warnings=warnings,
        data={
            "url": page.url,
            "title": meta.title,
            "description": meta.description,
            "author": meta.author,
            "date": meta.date,
            "language": meta.language,
            "links": meta.links,
            "excerpt": short,
            "word_count": ex.word_count,
            "fingerprint": ex.fingerprint,
            "canonical": meta.canonical,
            "site_name": meta.site_name,
            "engine": ex.engine,
            "rendered": rendered,
            "render_limits": report.as_data() if report is not None else None,
            "blocked_requests": page.blocked[:20],
            "redirects": page.redirects,
            "content_type": page.content_type,
            "bytes": page.size,
            "truncated": cut,
        },
    )


async def extract(job: Job) -> Output:
    args: ExtractArgs = job.args
    settings = job.app[SCRAPER_SETTINGS]
    check_selector(args.selector)  # before any fetch: a typo costs nothing
    page = await job.app[FETCHER].fetch(args.url, min(job.remaining(), settings.fetch_timeout_s))
    found = await asyncio.to_thread(
        select, page.html, args.selector, args.attribute, args.limit, settings.extract_max_chars, page.url
    )
    data = {
        "url": page.url,
        "selector": args.selector,
        "attribute": args.attribute,
        "matches": found.matches,
        "values": found.values,
        "truncated": found.truncated,
    }
    if found.matches == 0:
        return Output(
            title="Nothing matched",
            text=f"No element on {page.url} matches `{args.selector}` — check the selector against the page.",
            data=data,
        )
    what = f"`{args.attribute}` of " if args.attribute else ""
    lines = [f"{i}. {value}" if value else f"{i}. (empty)" for i, value in enumerate(found.values, 1)]
    warnings = []
    if found.truncated:
        warnings.append(
            f"showing {len(found.values)} of {found.matches} matches (limit={args.limit}, "
            f"{settings.extract_max_chars:,} characters at most)"
        )
    if not found.values:
        text = f"{found.matches} element(s) matched, but none has a `{args.attribute}` attribute."
    else:
        text = "\n".join(lines)
    return Output(
        title=f"{found.matches} match{'es' if found.matches != 1 else ''} for {args.selector}"[:256],
        text=f"{what}{args.selector}:\n{text}" if what else text,
        fields=[
            EmbedField(name="Matches", value=str(found.matches)),
            EmbedField(name="URL", value=page.url[:1024]),
        ],
        data=data,
        warnings=warnings,
    )
