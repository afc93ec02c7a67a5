"""Text folding shared by the scorer and the extractors: lower case, no accents, positions kept."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+(?:[._'-][a-z0-9]+)*")


@lru_cache(maxsize=4096)
def fold_char(ch: str) -> str:
    """One character folded: "É" -> "e", "ç" -> "c"; accents carry no meaning for routing, and
    people drop them when they type fast."""
    decomposed = unicodedata.normalize("NFKD", ch.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    return "".join(fold_char(c) for c in text)


@dataclass(frozen=True)
class Folded:
    """A folded text and, for each of its characters, the index of the original one it came from,
    so a match found in the folded text cuts the original (values keep their accents and case)."""

    original: str
    text: str
    origin: tuple[int, ...]

    @classmethod
    def of(cls, original: str) -> Folded:
        out: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(original):
            for f in fold_char(ch):
                out.append(f)
                origin.append(i)
        return cls(original, "".join(out), tuple(origin))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Folded [start, end) -> original [start, end)."""
        if start >= len(self.origin):
            return len(self.original), len(self.original)
        last = self.origin[end - 1] + 1 if end > start else self.origin[start]
        return self.origin[start], last


def words(text: str) -> list[str]:
    """The folded words of a text ("Preço, área!" -> ["preco", "area"])."""
    return _WORD.findall(fold(text))


def find_phrase(folded: str, phrase: str) -> tuple[int, int] | None:
    """Where a folded phrase occurs as whole words in a folded text (first occurrence)."""
    p = fold(phrase).strip()
    if not p:
        return None
    m = re.search(r"(?<![a-z0-9])" + re.escape(p) + r"(?![a-z0-9])", folded)
    return (m.start(), m.end()) if m else None


def near_miss(a: str, b: str) -> bool:
    """One edit apart (insert, delete, substitute or swap two neighbours): a typo of a word of five
    letters or more ("hystogram", "scater", "transcirbe")."""
    if a == b:
        return True
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))
