"""Main text + metadata of an HTML page: trafilatura, tuned, with our lexbor extractor as fallback.

Measured on two public corpora (bench/scraper_quality.py, docs/performance.md), plain
trafilatura beat our own heuristic, so `auto` uses trafilatura's fast path (no fallback
extractors, no comments), re-runs its full path only on short results, falls back to the lexbor
extractor when that finds far more text, and drops "read also" teaser lines.
Everything here is synchronous and CPU-bound; handlers call it through `asyncio.to_thread`.
trafilatura is imported only when it is used, so /health never pays for it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from agents.web_scraper.maintext import main_text_blocks, prune, render
from agents.web_scraper.metadata import Metadata, read_metadata
from agents.web_scraper.teasers import drop_teasers

Mode = Literal["auto", "fast", "trafilatura"]

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# Tuned on the dev split of both corpora (never the held-out one): below _SHORT words, trafilatura's
# fast path often missed part of the article and its full path (with its own fallbacks) is worth
# the time; below _UNSURE words, our lexbor extractor is asked too and wins when it finds at least
# _FALLBACK_RATIO times as many words plus _FALLBACK_EXTRA (it reads pages trafilatura gives up on).
_SHORT = 100
_UNSURE = 200
_FALLBACK_RATIO = 4
_FALLBACK_EXTRA = 20


@dataclass
class Extraction:
    text: str
    meta: Metadata
    engine: str

    @property
    def word_count(self) -> int:
        return len(self.text.split())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.text)


def normalise(text: str) -> str:
    """Text reduced to its words: case, punctuation, bullets and whitespace do not count."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def fingerprint(text: str) -> str:
    """A stable hash of the normalised main text, for change detection (`!monitor`)."""
    return "sha256:" + hashlib.sha256(normalise(text).encode()).hexdigest()[:32]


def _parse(html: str):  # type: ignore[no-untyped-def] - selectolax ships no stubs for lexbor
    from selectolax.lexbor import LexborHTMLParser

    return LexborHTMLParser(html)


def fast_text(html: str, title: str | None = None) -> tuple[str, float]:
    """(main text, container score) from the lexbor heuristic."""
    tree = _parse(html)
    root = tree.body or tree.root
    if root is None:
        return "", 0.0
    prune(root)
    blocks, score = main_text_blocks(root, title)
    return render(blocks), score


def trafilatura_text(html: str, url: str | None = None, fast: bool = True) -> str:
    import trafilatura

    # Comments are not the page's main text (and cost precision on both corpora); `fast` skips
    # trafilatura's readability/jusText fallbacks, about twice as quick.
    text = trafilatura.extract(html, url=url, fast=fast, include_comments=False, include_tables=True)
    return text or ""


def _words(text: str) -> int:
    return len(text.split())


def extract_page(html: str, url: str | None = None, mode: Mode = "auto") -> Extraction:
    meta = read_metadata(_parse(html))
    if mode == "fast":
        return Extraction(drop_teasers(fast_text(html, meta.title)[0]), meta, "selectolax")
    text, engine = trafilatura_text(html, url), "trafilatura"
    if mode == "auto":
        if _words(text) < _SHORT:
            text = trafilatura_text(html, url, fast=False)
        if _words(text) < _UNSURE:
            ours, _ = fast_text(html, meta.title)
            if _words(ours) >= _FALLBACK_RATIO * _words(text) + _FALLBACK_EXTRA:
                text, engine = ours, "selectolax"
    text = drop_teasers(text)
    return Extraction(_spaced(text) if engine == "trafilatura" else text, meta, engine)


def _spaced(text: str) -> str:
    """trafilatura's one-line-per-paragraph text with blank lines between paragraphs (lists kept tight),
    as the lexbor extractor renders it: easier to read in a Discord embed or the attached file."""
    out: list[str] = []
    for line in text.split("\n"):
        if out and not (line.startswith("- ") and out[-1].startswith("- ")):
            out.append("")
        out.append(line)
    return "\n".join(out)


def plain_text(body: str) -> Extraction:
    """A text/plain document is its own main text."""
    text = "\n".join(line.rstrip() for line in body.strip().splitlines())
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return Extraction(text, Metadata(title=first[:120] or None), "plain")
