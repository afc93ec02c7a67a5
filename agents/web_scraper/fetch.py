"""SSRF-guarded page fetching: manual redirects, a body-size cap read as a stream, HTML/text only."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from yarl import URL

from agents.common import AgentFailure
from agents.web_scraper.guard import AddressPolicy, BlockedUrl, GuardedResolver, check_url
from agents.web_scraper.settings import ScraperSettings
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode

log = get_logger("agents.web_scraper.fetch")

_REDIRECTS = {301, 302, 303, 307, 308}
_TEXTUAL = ("text/", "application/xhtml+xml", "application/xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_CHUNK = 64 * 1024


@dataclass
class Page:
    """A fetched document: where it finally came from and its decoded text."""

    url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes
    redirects: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # rendering: subrequests the guard refused

    @property
    def html(self) -> str:
        return decode(self.body, self.charset)

    @property
    def size(self) -> int:
        return len(self.body)


def blocked(reason: str) -> AgentFailure:
    return AgentFailure(
        ErrorCode.BLOCKED_URL, f"refused to read this URL: {reason} — only public web pages can be scraped"
    )


def decode(body: bytes, charset: str | None) -> str:
    """Header charset, else a <meta charset> in the first 4 KB, else UTF-8 (bad bytes replaced)."""
    if not charset and (match := _META_CHARSET.search(body[:4096])):
        charset = match.group(1).decode("ascii")
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return body.decode("utf-8", errors="replace")


class Fetcher:
    """One guarded ClientSession per process; every hop is checked before it is connected to."""

    def __init__(self, settings: ScraperSettings, session: aiohttp.ClientSession, policy: AddressPolicy):
        self.settings = settings
        self.session = session
        self.policy = policy

    async def fetch(
        self, url: str, budget_s: float, any_type: bool = False, max_bytes: int | None = None
    ) -> Page:
        """GET `url`, following redirects hop by hop; `any_type` skips the HTML/text check
        (subresources of a rendered page); `max_bytes` lowers the body cap (a render's own caps)."""
        deadline = time.monotonic() + min(budget_s, self.settings.fetch_timeout_s)
        current = self._parse(url)
        redirects: list[str] = []
        while True:
            try:
                check_url(current, self.policy)
            except BlockedUrl as exc:
                raise blocked(exc.reason) from None
            page_or_next = await self._one_hop(current, deadline, redirects, any_type, max_bytes)
            if isinstance(page_or_next, Page):
                return page_or_next
            redirects.append(str(current))
            if len(redirects) > self.settings.max_redirects:
                raise AgentFailure(
                    ErrorCode.FETCH_FAILED,
                    f"the page redirected more than {self.settings.max_redirects} times — "
                    "it may be a redirect loop; try the final URL directly",
                )
            current = page_or_next

    @staticmethod
    def _parse(url: str) -> URL:
        try:
            return URL(url)
        except (ValueError, TypeError) as exc:
            raise AgentFailure(
                ErrorCode.INVALID_ARGUMENT, f"the URL cannot be parsed ({exc}) — check it"
            ) from None

    async def _one_hop(
        self, url: URL, deadline: float, redirects: list[str], any_type: bool, max_bytes: int | None = None
    ) -> Page | URL:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout(self.settings.fetch_timeout_s)
        timeout = aiohttp.ClientTimeout(total=remaining, sock_connect=self.settings.connect_timeout_s)
        try:
            async with self.session.get(url, allow_redirects=False, timeout=timeout) as resp:
                if resp.status in _REDIRECTS and "Location" in resp.headers:
                    return self._next_hop(resp.url, resp.headers["Location"])
                if resp.status >= 400:
                    raise site_answered(resp.status, resp.reason)
                content_type = resp.content_type if "Content-Type" in resp.headers else ""
                if not any_type and content_type and not content_type.startswith(_TEXTUAL):
                    raise AgentFailure(
                        ErrorCode.UNSUPPORTED_MEDIA,
                        f"the URL is {content_type}, not a web page — "
                        "scrape and extract read HTML or text only",
                    )
                body = await self._read_capped(resp, max_bytes)
                return Page(
                    url=str(resp.url),
                    status=resp.status,
                    content_type=content_type or "text/html",
                    charset=resp.charset,
                    body=body,
                    redirects=redirects,
                )
        except aiohttp.ClientConnectorError as exc:
            # The guard raises inside aiohttp's connector; its reason arrives as the cause.
            cause = exc.__cause__ if isinstance(exc.__cause__, BlockedUrl) else exc.os_error
            if isinstance(cause, BlockedUrl):
                raise blocked(cause.reason) from None
            if isinstance(exc, aiohttp.ClientConnectorDNSError):
                raise AgentFailure(
                    ErrorCode.FETCH_FAILED,
                    f"the host {url.host} does not exist (no DNS record) — check the address",
                    source="input",
                ) from None
            raise AgentFailure(
                ErrorCode.FETCH_FAILED,
                f"could not connect to {url.host}: {exc.os_error.strerror or exc.os_error} — "
                "check the address, or try again later",
                source="upstream",
            ) from None
        except TimeoutError:
            raise _timeout(self.settings.fetch_timeout_s) from None
        except aiohttp.InvalidURL as exc:
            raise AgentFailure(
                ErrorCode.INVALID_ARGUMENT, f"the URL is not valid: {exc} — check it"
            ) from None
        except aiohttp.TooManyRedirects:  # not expected with allow_redirects=False; kept explicit
            raise AgentFailure(ErrorCode.FETCH_FAILED, "too many redirects") from None
        except aiohttp.ClientError as exc:
            raise AgentFailure(
                ErrorCode.FETCH_FAILED,
                f"reading the page failed: {exc.__class__.__name__}: {exc} — try again later",
                source="upstream",
            ) from None

    def _next_hop(self, base: URL, location: str) -> URL:
        try:
            return base.join(URL(location))
        except (ValueError, TypeError):
            raise AgentFailure(
                ErrorCode.FETCH_FAILED,
                f"the site redirected to an invalid address {location[:200]!r}",
                source="upstream",
            ) from None

    async def _read_capped(self, resp: aiohttp.ClientResponse, max_bytes: int | None = None) -> bytes:
        cap = min(self.settings.max_body_bytes, max_bytes or self.settings.max_body_bytes)
        too_big = AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the page is larger than the {cap / 2**20:g} MB limit — "
            "try a lighter page (SPOTRUN_SCRAPER_MAX_BODY_MB raises the limit)",
        )
        if resp.content_length is not None and resp.content_length > cap:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        # Counted after decompression, so a gzip bomb stops at the cap as well.
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)


def site_answered(status: int, reason: str | None) -> AgentFailure:
    """The target page's own error status. Never the agent's fault, so never against its breaker.

    4xx: the URL is wrong (the user's input). 5xx and 429: the site is down or busy (upstream).
    Neither is retried by the client: the user is waiting and can try again, and a site that
    says it is overloaded should not get three requests for one command.
    """
    said = f"the site answered {status} {reason or ''}".rstrip()
    if status >= 500 or status == 429:
        return AgentFailure(
            ErrorCode.FETCH_FAILED,
            f"{said} — the site is down or busy; try again later",
            retryable=False,
            source="upstream",
        )
    return AgentFailure(ErrorCode.FETCH_FAILED, f"{said} — check the URL", retryable=False, source="input")


def _timeout(limit: float) -> AgentFailure:
    # The site's slowness, not ours: not retried (another full wait rarely helps), not counted.
    return AgentFailure(
        ErrorCode.TIMEOUT,
        f"the page did not load within {limit:g}s — the site may be slow; try again later",
        retryable=False,
        source="upstream",
    )


FETCHER: web.AppKey[Fetcher] = web.AppKey("scraper_fetcher", Fetcher)


def fetcher_context(settings: ScraperSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx that opens the guarded session and publishes a Fetcher under FETCHER."""
    policy = AddressPolicy(settings.allow_private_networks, tuple(settings.allowed_networks))

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), limit=64, ttl_dns_cache=30)
        session = aiohttp.ClientSession(
            connector=connector,
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8,*/*;q=0.1",
                "Accept-Language": "en;q=0.9,*;q=0.5",
            },
            trust_env=False,  # an environment proxy would connect on our behalf, unguarded
            max_line_size=16 * 1024,
            max_field_size=16 * 1024,
        )
        app[FETCHER] = Fetcher(settings, session, policy)
        if settings.allow_private_networks:
            log.warning("SPOTRUN_SCRAPER_ALLOW_PRIVATE_NETWORKS is on: private addresses are reachable")
        yield
        await session.close()

    return ctx
