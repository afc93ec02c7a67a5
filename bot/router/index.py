"""A TF-IDF index of character n-grams over the manifests' plain-language requests: it scores a
request against every command without a model download, in any language the manifests speak."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from bot.router.text import fold

_SLOT = re.compile(r"\{[a-z_]+\}")
_NON_WORD = re.compile(r"[^a-z0-9]+")
# 3-5 letters inside word boundaries: robust to typos, inflections (barra/barras/bars) and
# languages that share roots (gráfico/grafico/graph) — what a bag of words misses.
NGRAM_SIZES = (3, 4, 5)


# Function words of English, Portuguese and Spanish: they say nothing about which command is meant,
# and short requests made of them ("pon una canción") would otherwise match short templates.
# fmt: off
STOP_WORDS = frozenset(
    [
        "a", "an", "the", "of", "to", "in", "on", "at", "for", "from", "with", "and", "or", "is", "it",
        "this", "that", "these", "my", "me", "i", "you", "your", "please", "pls", "can", "could",
        "would", "will", "want", "need", "some", "all", "just", "o", "os", "as", "um", "uma", "uns",
        "umas", "de", "da", "do", "das", "dos", "em", "no", "na", "nos", "nas", "por", "pra", "para",
        "com", "e", "ou", "isso", "isto", "esse", "essa", "este", "esta", "meu", "minha", "eu", "voce",
        "me", "quero", "pode", "el", "la", "los", "las", "un", "una", "unos", "unas", "del", "al", "en",
        "con", "y", "por", "para", "este", "esta", "esto", "ese", "esa", "mi", "yo", "puedes", "quiero"
    ]
)
# fmt: on


def ngrams(text: str) -> Counter[str]:
    grams: Counter[str] = Counter()
    for word in _NON_WORD.split(fold(text)):
        if not word or word in STOP_WORDS:
            continue
        padded = f" {word} "
        for n in NGRAM_SIZES:
            if len(padded) < n:
                continue
            for i in range(len(padded) - n + 1):
                grams[padded[i : i + n]] += 1
    return grams


def template_text(request: str) -> str:
    """A request template without its slots ("say {text}" -> "say")."""
    return _SLOT.sub(" ", request)


class Index:
    """Documents labelled by command; `scores` gives each command its best cosine similarities."""

    def __init__(self, documents: Mapping[str, Iterable[str]]) -> None:
        docs: list[tuple[str, Counter[str]]] = [
            (command, ngrams(template_text(text))) for command, texts in documents.items() for text in texts
        ]
        docs = [(c, g) for c, g in docs if g]
        df: Counter[str] = Counter()
        for _, grams in docs:
            df.update(grams.keys())
        total = len(docs) or 1
        self._idf = {g: math.log((1 + total) / (1 + n)) + 1.0 for g, n in df.items()}
        self._labels = [c for c, _ in docs]
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, (_, grams) in enumerate(docs):
            vec = self._weigh(grams)
            for gram, weight in vec.items():
                self._postings[gram].append((i, weight))
        self.commands = sorted(set(self._labels))

    def _weigh(self, grams: Counter[str]) -> dict[str, float]:
        # Sub-linear term frequency: a repeated n-gram is evidence, not ten times the evidence.
        vec = {g: (1.0 + math.log(n)) * self._idf.get(g, 0.0) for g, n in grams.items()}
        norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
        return {g: w / norm for g, w in vec.items() if w > 0}

    def scores(self, text: str) -> dict[str, float]:
        """Per command: 0.6 × its best document's cosine + 0.4 × the mean of its best three — one
        close paraphrase counts most, several near ones confirm it."""
        query = self._weigh(ngrams(text))
        dots: dict[int, float] = defaultdict(float)
        for gram, weight in query.items():
            for doc, doc_weight in self._postings.get(gram, ()):
                dots[doc] += weight * doc_weight
        per_command: dict[str, list[float]] = defaultdict(list)
        for doc, value in dots.items():
            per_command[self._labels[doc]].append(value)
        result = {c: 0.0 for c in self.commands}
        for command, values in per_command.items():
            values.sort(reverse=True)
            top = values[:3]
            result[command] = 0.6 * top[0] + 0.4 * sum(top) / 3
        return result
