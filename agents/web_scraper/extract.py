"""Main text + metadata of an HTML page: the fast lexbor path, trafilatura when it is unsure.

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

Mode = Literal["auto", "fast", "trafilatura"]

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# Below this many words the fast path's pick is not trusted on its own.
_UNSURE_WORDS = 40


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


def trafilatura_text(html: str, url: str | None = None) -> str:
    import trafilatura

    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=True, favor_recall=True, deduplicate=False
    )
    return text or ""


def extract_page(html: str, url: str | None = None, mode: Mode = "auto") -> Extraction:
    meta = read_metadata(_parse(html))
    if mode == "trafilatura":
        return Extraction(trafilatura_text(html, url), meta, "trafilatura")
    text, _ = fast_text(html, meta.title)
    if mode == "fast" or len(text.split()) >= _UNSURE_WORDS:
        return Extraction(text, meta, "selectolax")
    other = trafilatura_text(html, url)
    # A short page is often just short: switch only when trafilatura finds far more.
    if len(other.split()) >= 2 * len(text.split()) + 10:
        return Extraction(other, meta, "trafilatura")
    return Extraction(text, meta, "selectolax")


def plain_text(body: str) -> Extraction:
    """A text/plain document is its own main text."""
    text = "\n".join(line.rstrip() for line in body.strip().splitlines())
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return Extraction(text, Metadata(title=first[:120] or None), "plain")
