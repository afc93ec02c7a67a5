"""Main-text quality and speed of the web-scraper's extractor vs plain trafilatura, on the fixtures.

Run: `python -m bench.scraper_quality` (or `python bench/scraper_quality.py`). Quality is
word-level precision/recall/F1 (bag of words) against each hand-written gold `*.txt`; speed is
pages/s on a ~200 KB page made by repeating an article's body.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.web_scraper.extract import extract_page, normalise

PAGES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pages"


@dataclass
class Score:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def score(extracted: str, gold: str) -> Score:
    got, want = Counter(normalise(extracted).split()), Counter(normalise(gold).split())
    common = sum((got & want).values())
    return Score(
        precision=common / sum(got.values()) if got else 0.0,
        recall=common / sum(want.values()) if want else 0.0,
    )


def fixtures() -> list[tuple[str, str, str]]:
    """(name, html, gold) for every page that has a gold text."""
    return [
        (html.stem, html.read_text(encoding="utf-8"), html.with_suffix(".txt").read_text(encoding="utf-8"))
        for html in sorted(PAGES.glob("*.html"))
        if html.with_suffix(".txt").exists()
    ]


def _trafilatura(include_comments: bool) -> Callable[[str], str]:
    def run(html: str) -> str:
        import trafilatura

        return trafilatura.extract(html, include_comments=include_comments) or ""

    return run


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "spotrun (auto)": lambda html: extract_page(html, mode="auto").text,
    "spotrun (fast only)": lambda html: extract_page(html, mode="fast").text,
    "trafilatura (default)": _trafilatura(True),
    "trafilatura (no comments)": _trafilatura(False),
}


def big_page(target_bytes: int = 200_000) -> str:
    """A ~200 KB article: the news fixture's body paragraphs repeated inside its own chrome."""
    html = (PAGES / "news_article.html").read_text(encoding="utf-8")
    start, end = html.index('<div class="story-body">'), html.index("</article>")
    body = html[start:end]
    repeats = max(1, (target_bytes - len(html)) // len(body) + 1)
    return html[:start] + body * repeats + html[end:]


def pages_per_second(extract: Callable[[str], str], html: str, min_s: float = 1.0) -> float:
    extract(html)  # warm imports and caches
    runs, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_s or runs < 3:
        extract(html)
        runs += 1
    return runs / elapsed


def evaluate() -> dict[str, dict[str, Score]]:
    pages = fixtures()
    return {
        name: {page: score(run(html), gold) for page, html, gold in pages} for name, run in EXTRACTORS.items()
    }


def overall(scores: dict[str, Score]) -> float:
    return sum(s.f1 for s in scores.values()) / len(scores)


def main() -> None:
    results = evaluate()
    names = list(results)
    pages = list(next(iter(results.values())))
    print(f"{'page':<16}" + "".join(f"{n:>28}" for n in names))
    print(f"{'':<16}" + "".join(f"{'P / R / F1':>28}" for _ in names))
    for page in pages:
        cells = "".join(
            f"{f'{s.precision:.2f} / {s.recall:.2f} / {s.f1:.2f}':>28}"
            for s in (results[n][page] for n in names)
        )
        print(f"{page:<16}{cells}")
    print(f"{'mean F1':<16}" + "".join(f"{overall(results[n]):>28.3f}" for n in names))
    html = big_page()
    print(f"\nspeed on a {len(html.encode()) / 1000:.0f} KB page (single thread):")
    for name, run in EXTRACTORS.items():
        print(f"  {name:<28}{pages_per_second(run, html):8.1f} pages/s")


if __name__ == "__main__":
    main()
