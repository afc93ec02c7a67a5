"""Public main-text corpora and their own scorers, read from a directory outside the repository.

Two independent corpora, each scored the way its authors score it:

- **trafilatura-eval** (990 real pages, news/blogs/forums in ~10 languages; from adbar/trafilatura
  tests/): per page, snippets the main text must contain (`with`) and must not (`without`); a
  `with` found is a true positive, missing a false negative, a `without` found a false positive.
  Precision/recall/F1 over all snippets of all pages (trafilatura's `tests/comparison.py`).
- **article-extraction-benchmark** (181 real English news/blog pages, full gold `articleBody`;
  from scrapinghub/article-extraction-benchmark): 4-token shingles, per-page precision and
  recall averaged over pages, F1 of the means (its `evaluate.py`).

Each page is put in the dev or held-out split by a hash of its id (30 % held out): engines are
tuned on dev only; held-out figures are read, never tuned on.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CORPORA_DIR = Path("/tmp/spotrun-corpora")
TRAFILATURA_TAR = Path("/work/shared/corpora/trafilatura-eval.tar.xz")
HELD_OUT_PERCENT = 30


@dataclass
class Page:
    corpus: str
    id: str
    html: str
    gold: str = ""  # full-text corpora
    with_: list[str] = field(default_factory=list)  # snippet corpora
    without: list[str] = field(default_factory=list)

    @property
    def split(self) -> str:
        digest = int(hashlib.sha256(self.id.encode()).hexdigest()[:8], 16)
        return "held-out" if digest % 100 < HELD_OUT_PERCENT else "dev"


# --------------------------------------------------------------------------- loading


def _read_html(path: Path) -> str:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.decode("utf-8", errors="replace")


def trafilatura_eval(root: Path | None = None) -> list[Page]:
    """The trafilatura evaluation set, unpacked from the shared tarball on first use."""
    root = root or CORPORA_DIR / "trafilatura-eval"
    if not (root / "tests" / "evaldata.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(TRAFILATURA_TAR) as tar:
            tar.extractall(root, filter="data")
    data = json.loads((root / "tests" / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for url, item in data.items():
        path = root / "tests" / "eval" / item["file"]
        if path.exists():  # a few entries name files the set does not ship
            pages.append(
                Page("trafilatura-eval", url, _read_html(path), with_=item["with"], without=item["without"])
            )
    return pages


def article_benchmark(root: Path | None = None) -> list[Page]:
    """scrapinghub/article-extraction-benchmark: `html/*.html.gz` and `ground-truth.json`."""
    root = root or CORPORA_DIR / "article-extraction-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        Page(
            "article-extraction-benchmark",
            key,
            _read_html(root / "html" / f"{key}.html.gz"),
            gold=item["articleBody"],
        )
        for key, item in sorted(truth.items())
    ]


# --------------------------------------------------------------------------- scoring

_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass
class Counts:
    """One page's outcome: tp/fp/fn (snippets, or shingle shares) and a reason when imperfect."""

    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0
    why: str = ""

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


def _flat(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def score_snippets(page: Page, text: str) -> Counts:
    got = _flat(text)
    missing = [s for s in page.with_ if _flat(s) not in got]
    extra = [s for s in page.without if _flat(s) in got]
    why = []
    if not got:
        why.append("nothing extracted")
    elif missing:
        why.append(f"missed {len(missing)}/{len(page.with_)} e.g. {missing[0][:60]!r}")
    if extra:
        why.append(f"kept boilerplate {extra[0][:60]!r}")
    return Counts(len(page.with_) - len(missing), len(extra), len(missing), "; ".join(why))


def _shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text)
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def score_shingles(page: Page, text: str) -> Counts:
    want, got = _shingles(page.gold), _shingles(text)
    tp = sum((want & got).values())
    fp, fn = sum(got.values()) - tp, sum(want.values()) - tp
    total = tp + fp + fn
    why = ""
    if not got:
        why = "nothing extracted"
    elif total:
        parts = []
        if fn / total > 0.1:
            first_missing = next((" ".join(s) for s in want if s not in got), "")
            parts.append(f"missed {fn / max(1, tp + fn):.0%} of the article, e.g. {first_missing[:50]!r}")
        if fp / total > 0.1:
            first_extra = next((" ".join(s) for s in got if s not in want), "")
            parts.append(f"{fp / max(1, tp + fp):.0%} extra text, e.g. {first_extra[:50]!r}")
        why = "; ".join(parts)
    # Normalised per page, as evaluate.py does, so long articles do not weigh more.
    return Counts(tp / total, fp / total, fn / total, why) if total else Counts(why=why)


def score(page: Page, text: str) -> Counts:
    return score_snippets(page, text) if page.with_ or page.without else score_shingles(page, text)


@dataclass
class Summary:
    precision: float
    recall: float
    pages: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def summarise(pages: list[Page], counts: list[Counts]) -> Summary:
    """Micro-averaged over snippets (trafilatura-eval), or per-page means (article benchmark)."""
    if not pages:
        return Summary(0.0, 0.0, 0)
    if pages[0].corpus == "trafilatura-eval":
        tp, fp, fn = (sum(getattr(c, k) for c in counts) for k in ("tp", "fp", "fn"))
        return Summary(tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0, len(pages))
    precisions = [_ratio(c.tp, c.fp) for c in counts if c.tp + c.fp > 0]
    recalls = [_ratio(c.tp, c.fn) for c in counts if c.tp + c.fn > 0]
    return Summary(
        sum(precisions) / len(precisions) if precisions else 0.0,
        sum(recalls) / len(recalls) if recalls else 0.0,
        len(pages),
    )


def _ratio(tp: float, other: float) -> float:
    return tp / (tp + other) if tp + other else 1.0
