"""Main-text quality and speed of the web-scraper's extractor beside the libraries, on public corpora.

Run: `python -m bench.scraper_quality` (two public corpora, see bench/scraper_corpora.py; about
5 minutes on 2 cores) or `python -m bench.scraper_quality --fixtures` (the hand-written fixtures,
word-level bag-of-words F1, seconds). Every engine runs on the same pages in the same run, one
thread, one page at a time: pages/s is pages divided by the engine's own extraction time.

Corpora live outside the repository (`--corpora`, default /tmp/spotrun-corpora):
trafilatura-eval is unpacked from /work/shared/corpora on first use;
article-extraction-benchmark is a clone of github.com/scrapinghub/article-extraction-benchmark.
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
from bench import scraper_corpora as corpora

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


def fixtures_main() -> None:
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


# ------------------------------------------------------------------ public corpora, all engines


def _lib_trafilatura(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""  # what a user gets with no options


def _lib_readability(html: str) -> str:
    import lxml.html
    from readability import Document

    summary = Document(html).summary(html_partial=True)
    root = lxml.html.fromstring(summary) if summary.strip() else None
    if root is None:
        return ""
    blocks = root.xpath("//p|//h1|//h2|//h3|//h4|//li|//pre|//blockquote|//td")
    return "\n".join(b.text_content().strip() for b in blocks) or root.text_content()


_JUSTEXT_STOPLIST: frozenset[str] | None = None


def _lib_justext(html: str) -> str:
    import justext

    global _JUSTEXT_STOPLIST
    if _JUSTEXT_STOPLIST is None:
        # Both corpora are mostly English and German: one stoplist for both, as trafilatura's
        # own comparison does per language.
        _JUSTEXT_STOPLIST = justext.get_stoplist("English") | justext.get_stoplist("German")
    paragraphs = justext.justext(html.encode("utf-8"), _JUSTEXT_STOPLIST)
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


_GOOSE: object = None


def _lib_goose(html: str) -> str:
    global _GOOSE
    if _GOOSE is None:
        from goose3 import Goose

        _GOOSE = Goose({"enable_image_fetching": False, "use_meta_language": True})
    try:
        return _GOOSE.extract(raw_html=html).cleaned_text or ""  # type: ignore[attr-defined]
    except (ValueError, AttributeError, TypeError, IndexError):  # goose3 trips on some markup
        return ""


def _ours(html: str) -> str:
    return extract_page(html).text


ENGINES: dict[str, Callable[[str], str]] = {
    "spotrun": _ours,
    "trafilatura": _lib_trafilatura,
    "readability-lxml": _lib_readability,
    "jusText": _lib_justext,
    "goose3": _lib_goose,
}


@dataclass
class EngineRun:
    engine: str
    corpus: str
    seconds: float
    pages: list[corpora.Page]
    counts: list[corpora.Counts]

    def summary(self, split: str | None = None) -> corpora.Summary:
        chosen = [(p, c) for p, c in zip(self.pages, self.counts, strict=True) if split in (None, p.split)]
        return corpora.summarise([p for p, _ in chosen], [c for _, c in chosen])

    @property
    def pages_per_s(self) -> float:
        return len(self.pages) / self.seconds if self.seconds else 0.0

    def worst(self, n: int = 10) -> list[tuple[corpora.Page, corpora.Counts]]:
        pairs = sorted(zip(self.pages, self.counts, strict=True), key=lambda pc: (pc[1].f1, pc[0].id))
        return [pc for pc in pairs if pc[1].why][:n]


def run_engines(engines: dict[str, Callable[[str], str]], pages: list[corpora.Page]) -> list[EngineRun]:
    """Every engine on every page, interleaved page by page: load on the shared machine then
    slows all engines alike instead of whichever happened to run during it."""
    for extract in engines.values():
        extract(pages[0].html)  # warm imports and caches outside the timing
    seconds = dict.fromkeys(engines, 0.0)
    counts: dict[str, list[corpora.Counts]] = {name: [] for name in engines}
    for page in pages:
        for name, extract in engines.items():
            started = time.perf_counter()
            try:
                text = extract(page.html)
            except Exception as exc:
                text = ""
                print(f"  {name} failed on {page.id[:60]}: {exc.__class__.__name__}", file=sys.stderr)
            seconds[name] += time.perf_counter() - started
            counts[name].append(corpora.score(page, text))
    return [EngineRun(name, pages[0].corpus, seconds[name], pages, counts[name]) for name in engines]


def load_corpora(root: Path) -> dict[str, list[corpora.Page]]:
    found: dict[str, list[corpora.Page]] = {
        "trafilatura-eval": corpora.trafilatura_eval(root / "trafilatura-eval")
    }
    aeb = root / "article-extraction-benchmark"
    if (aeb / "ground-truth.json").exists():
        found["article-extraction-benchmark"] = corpora.article_benchmark(aeb)
    else:
        print(
            "(skipping article-extraction-benchmark: clone "
            f"github.com/scrapinghub/article-extraction-benchmark into {aeb})",
            file=sys.stderr,
        )
    return found


def compare(
    root: Path, engines: dict[str, Callable[[str], str]], split: str | None = None
) -> list[EngineRun]:
    runs = []
    for corpus, pages in load_corpora(root).items():
        chosen = [p for p in pages if split in (None, p.split)]
        runs.extend(run_engines(engines, chosen))
        print(f"  ran {len(engines)} engines on {corpus} ({len(chosen)} pages)", file=sys.stderr)
    return runs


def _f1(summary: corpora.Summary) -> str:
    return f"{summary.f1:.3f}" if summary.pages else "–"


def report(runs: list[EngineRun]) -> None:
    for corpus in dict.fromkeys(r.corpus for r in runs):
        mine = [r for r in runs if r.corpus == corpus]
        total = len(mine[0].pages)
        n_dev = sum(p.split == "dev" for p in mine[0].pages)
        print(f"\n## {corpus} ({total} pages: {n_dev} dev, {total - n_dev} held-out)\n")
        print("| engine | P | R | F1 | F1 dev | F1 held-out | pages/s |")
        print("|---|---|---|---|---|---|---|")
        for r in sorted(mine, key=lambda r: -r.summary().f1):
            a, d, h = r.summary(), r.summary("dev"), r.summary("held-out")
            print(
                f"| {r.engine} | {a.precision:.3f} | {a.recall:.3f} | **{a.f1:.3f}** | {_f1(d)} | "
                f"{_f1(h)} | {r.pages_per_s:.1f} |"
            )
        ours = next(r for r in mine if r.engine == "spotrun")
        print(f"\nTen worst pages for spotrun on {corpus}:\n")
        for page, c in ours.worst():
            print(f"- `{page.id[:70]}` ({page.split}) F1 {c.f1:.2f}: {c.why}")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.scraper_quality")
    parser.add_argument("--fixtures", action="store_true", help="the hand-written fixtures only")
    parser.add_argument("--corpora", type=Path, default=corpora.CORPORA_DIR)
    parser.add_argument("--split", choices=["dev", "held-out"], help="only this split (default: both)")
    parser.add_argument("--engines", nargs="*", choices=list(ENGINES), default=list(ENGINES))
    args = parser.parse_args()
    if args.fixtures:
        fixtures_main()
        return
    report(compare(args.corpora, {n: ENGINES[n] for n in args.engines}, args.split))


if __name__ == "__main__":
    main()
