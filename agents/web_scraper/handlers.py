"""The `scrape` and `extract` command handlers: fetch (or render), extract, shape the Output."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from agents.common import Job, Output
from agents.web_scraper.extract import Extraction, extract_page, plain_text
from agents.web_scraper.fetch import FETCHER, Page
from agents.web_scraper.metadata import short_date
from agents.web_scraper.query import check_selector, select
from agents.web_scraper.render import Renderer
from agents.web_scraper.render_limits import RenderReport
from agents.web_scraper.settings import ScraperSettings
from spotrun.protocol import EmbedField, ExtractArgs, OutputFile, ScrapeArgs

SCRAPER_SETTINGS: web.AppKey[ScraperSettings] = web.AppKey("scraper_settings", ScraperSettings)
RENDERER: web.AppKey[Renderer | None] = web.AppKey("scraper_renderer")

EXCERPT_CHARS = 300
# Past one Discord embed description (4096) the reply's text is a preview and the whole main text
# comes as a file: Discord users expect a file for a long page, not five embeds cut at 16,000.
INLINE_CHARS = 3500
# Discord's default upload limit is 10 MiB; the page itself is capped at 5 MB, a render at its DOM cap.
ATTACHMENT_MAX_BYTES = 8 * 1024 * 1024
_SLUG = re.compile(r"[^a-z0-9]+")
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


def _cut(text: str, room: int) -> str:
    """At most `room` chars of `text`, ending at a paragraph, line or word boundary when one is near."""
    cut = text[:room]
    for sep in ("\n\n", "\n", " "):
        if (at := cut.rfind(sep)) > room * 0.6:
            return cut[:at].rstrip()
    return cut.rstrip()


def attachment_name(title: str | None, url: str) -> str:
    slug = _SLUG.sub("-", (title or url.split("://", 1)[-1]).lower()).strip("-")[:60].rstrip("-")
    return f"{slug or 'page'}.txt"


def full_text_file(text: str, title: str | None, url: str) -> OutputFile:
    """The whole main text as a UTF-8 .txt file (headed by title and URL), within the upload limit."""
    header = f"{title}\n{url}\n\n" if title else f"{url}\n\n"
    data = (header + text).encode()
    if len(data) > ATTACHMENT_MAX_BYTES:
        note = "\n\n[… cut at the 8 MiB attachment limit]".encode()
        data = data[: ATTACHMENT_MAX_BYTES - len(note)].decode(errors="ignore").encode() + note
    return OutputFile(name=attachment_name(title, url), content_type="text/plain; charset=utf-8", data=data)


def preview(text: str, file_name: str, limit: int = INLINE_CHARS) -> str:
    """The start of a long text, cut at a paragraph, pointing to the attached whole."""
    marker = f"\n\n[… {len(text):,} characters in all: the full text is attached as {file_name}]"
    return _cut(text, limit - len(marker)) + marker


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


def _fields(ex: Extraction, page: Page) -> list[EmbedField]:
    # No "Excerpt" field: it repeated the start of the text shown right above it (monitors read
    # the excerpt from `data`).
    meta = ex.meta
    fields = []
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
    files: list[OutputFile] = []
    text, cut = ex.text, len(ex.text) > INLINE_CHARS
    if cut:
        files.append(full_text_file(ex.text, ex.meta.title, page.url))
        text = preview(ex.text, files[0].name)
    if not ex.text.strip():
        hint = "" if report is not None else " — if the page is built by JavaScript, try render_js=true"
        warnings.append(f"no main text found on the page{hint}")
    short = excerpt(ex.text)
    meta = ex.meta
    return Output(
        title=(meta.title or page.url)[:256],
        text=text or (meta.description or ""),
        fields=_fields(ex, page),
        files=files,
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
            "attachment": files[0].name if files else None,
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
