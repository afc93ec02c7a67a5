"""Page metadata from <head>, OpenGraph, JSON-LD and common byline markup (lexbor, no network)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_SPACE = re.compile(r"\s+")
_TITLE_SUFFIX = re.compile(r"\s+[|\-–—·:]\s+[^|\-–—·:]{2,40}$")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Metadata:
    title: str | None = None
    description: str | None = None
    author: str | None = None
    date: str | None = None
    language: str | None = None
    canonical: str | None = None
    site_name: str | None = None
    links: int = 0


def _clean(value: Any, limit: int = 500) -> str | None:
    if not isinstance(value, str):
        return None
    text = _SPACE.sub(" ", value).strip()
    return text[:limit] or None


def _meta(tree: Any, *keys: str) -> str | None:
    for key in keys:
        for attr in ("property", "name", "itemprop"):
            node = tree.css_first(f'meta[{attr}="{key}"]')
            if node is not None and (value := _clean(node.attributes.get("content"))):
                return value
    return None


def _json_ld(tree: Any) -> dict[str, Any]:
    """The first Article-like JSON-LD object; broken JSON-LD is common and ignored."""
    for node in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(node.text() or "")
        except ValueError:
            continue
        items = (
            data if isinstance(data, list) else data.get("@graph", [data]) if isinstance(data, dict) else []
        )
        for item in items:
            if isinstance(item, dict) and str(item.get("@type", "")).endswith(
                ("Article", "BlogPosting", "NewsArticle", "Posting", "WebPage")
            ):
                return item
    return {}


def _ld_author(item: dict[str, Any]) -> str | None:
    author = item.get("author")
    if isinstance(author, list):
        names = [a.get("name") if isinstance(a, dict) else a for a in author]
        return _clean(", ".join(str(n) for n in names if n))
    if isinstance(author, dict):
        return _clean(author.get("name"))
    return _clean(author)


def _text_of(tree: Any, selector: str) -> str | None:
    node = tree.css_first(selector)
    return _clean(node.text(separator=" ")) if node is not None else None


def read_metadata(tree: Any) -> Metadata:
    """Metadata of an unpruned lexbor tree."""
    ld = _json_ld(tree)
    title = _meta(tree, "og:title", "twitter:title") or _clean(ld.get("headline"))
    if title is None and (raw := _text_of(tree, "title")):
        title = _TITLE_SUFFIX.sub("", raw) or raw
    title = title or _text_of(tree, "h1")
    author = (
        _meta(tree, "author", "article:author", "byl", "dc.creator")
        or _ld_author(ld)
        or _text_of(tree, '[rel="author"]')
        or _text_of(tree, '[itemprop="author"]')
        or _text_of(tree, ".byline .author, .author-name, .byline")
    )
    if author:
        author = re.sub(r"^(by|von|par|por)\s+", "", author, flags=re.IGNORECASE)[:200]
    date = _meta(tree, "article:published_time", "datePublished", "date", "dc.date", "pubdate") or _clean(
        ld.get("datePublished")
    )
    if date is None and (
        node := tree.css_first("article time[datetime], main time[datetime], time[datetime]")
    ):
        date = _clean(node.attributes.get("datetime"))
    language = None
    root = tree.root
    if root is not None:
        language = _clean(root.attributes.get("lang") or root.attributes.get("xml:lang"), 20)
    language = language or _meta(tree, "og:locale", "language")
    if language is None and (node := tree.css_first('meta[http-equiv="content-language" i]')):
        language = _clean(node.attributes.get("content"), 20)
    canonical = None
    if (node := tree.css_first('link[rel="canonical"]')) is not None:
        canonical = _clean(node.attributes.get("href"), 2048)
    return Metadata(
        title=title[:256] if title else None,
        description=_meta(tree, "description", "og:description", "twitter:description")
        or _clean(ld.get("description")),
        author=author,
        date=date,
        language=language.replace("_", "-") if language else None,
        canonical=canonical,
        site_name=_meta(tree, "og:site_name"),
        links=len(tree.css("a[href]")),
    )


def short_date(date: str | None) -> str | None:
    """YYYY-MM-DD when the date has one, else the date as found."""
    if date and (match := _DATE.search(date)):
        return match.group(0)
    return date
