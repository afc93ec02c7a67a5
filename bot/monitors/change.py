"""What counts as a change of a page: ignore rules, a stable fingerprint, a summary, a short diff."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass

import regex  # like re, but a match can be given a timeout: user patterns must not hang the bot

from bot.frontends.render import ZWSP, clip

MAX_RULES = 5
MAX_RULE_CHARS = 200
DIFF_LINES = 12
DIFF_CHARS = 900
_LINE_CHARS = 160
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_FENCE = "```"
_TICKS = re.compile(r"`{3,}")


class BadIgnoreRule(ValueError):
    """An ignore rule that cannot be used; the message names it."""


class IgnoreTimeout(Exception):
    """An ignore pattern took too long on this page (catastrophic backtracking)."""


@dataclass(frozen=True)
class IgnoreRules:
    """Text removed before comparing: `/regex/` (case-insensitive) or a plain string."""

    rules: tuple[str, ...] = ()

    @classmethod
    def parse(cls, values: list[str]) -> IgnoreRules:
        """Validate what a user typed (before anything is stored)."""
        if len(values) > MAX_RULES:
            raise BadIgnoreRule(f"at most {MAX_RULES} ignore rules per monitor (you gave {len(values)})")
        for value in values:
            if not value or len(value) > MAX_RULE_CHARS:
                raise BadIgnoreRule(f"an ignore rule is 1 to {MAX_RULE_CHARS} characters long")
            _compile(value)
        return cls(tuple(values))

    @classmethod
    def from_json(cls, text: str | None) -> IgnoreRules:
        """From the store. A corrupt value raises (ValueError) and fails that monitor's check alone."""
        values = json.loads(text) if text else []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError("ignore rules must be a list of strings")
        return cls.parse(values)

    def to_json(self) -> str | None:
        return json.dumps(list(self.rules)) if self.rules else None

    def apply(self, text: str, timeout_s: float) -> str:
        for rule in self.rules:
            try:
                text = _compile(rule).sub("", text, timeout=timeout_s)
            except TimeoutError as exc:
                raise IgnoreTimeout(f"the ignore rule {rule!r} took too long on this page") from exc
        return text

    def describe(self) -> str:
        return ", ".join(f"`{escape_code(r)}`" for r in self.rules)


def _compile(rule: str) -> regex.Pattern[str]:
    if len(rule) >= 2 and rule.startswith("/") and rule.endswith("/"):
        try:
            return regex.compile(rule[1:-1], regex.IGNORECASE | regex.V0)
        except regex.error as exc:
            raise BadIgnoreRule(f"the ignore pattern {rule!r} is not a valid regex: {exc}") from None
    return regex.compile(regex.escape(rule), regex.IGNORECASE)


def normalise(text: str) -> str:
    """Text reduced to its words: case, punctuation, bullets and whitespace do not count
    (the same rule as the scraper's own fingerprint, so existing monitors keep theirs)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def fingerprint(text: str) -> str:
    """sha256 of the normalised text: the same in every process (unlike hash(), which is salted)."""
    return "sha256:" + hashlib.sha256(normalise(text).encode()).hexdigest()[:32]


def summarize_change(old_title: str | None, new_title: str | None, old_text: str, new_text: str) -> str:
    """A few lines a human reads at a glance: title change, size change, first changed sentence."""
    lines = []
    if (old_title or "") != (new_title or ""):
        lines.append(f"title: “{clip(old_title or '', 120)}” → “{clip(new_title or '', 120)}”")
    old_words, new_words = len(old_text.split()), len(new_text.split())
    if old_words != new_words:
        lines.append(f"words: {old_words} → {new_words} ({new_words - old_words:+d})")
    old_s, new_s = _SENTENCE.split(old_text.strip()), _SENTENCE.split(new_text.strip())
    for op, _, _, j1, j2 in difflib.SequenceMatcher(a=old_s, b=new_s, autojunk=False).get_opcodes():
        if op in ("replace", "insert") and j1 < j2:
            lines.append(f"first change: “{clip(new_s[j1], 300)}”")
            break
        if op == "delete":
            lines.append("some text was removed")
            break
    return "\n".join(lines) or "the page changed (markup or metadata only)"


def escape_code(text: str) -> str:
    """Untrusted text inside a `code span`: a backtick cannot close it early."""
    return text.replace("`", "ˋ")  # U+02CB looks like a backtick but is not markup


def _in_block(line: str) -> str:
    # As bot.frontends.render does for agent text: a run of three backticks could end the block early.
    return _TICKS.sub(lambda m: ZWSP.join(m.group()), line)


def short_diff(old_text: str, new_text: str, *, lines: int = DIFF_LINES, chars: int = DIFF_CHARS) -> str:
    """The changed lines as a ```diff block (unified, no context), trimmed; "" if none differ."""
    old_lines = [ln.strip() for ln in old_text.splitlines() if ln.strip()]
    new_lines = [ln.strip() for ln in new_text.splitlines() if ln.strip()]
    changed = [
        f"{ln[0]} {clip(ln[1:].strip(), _LINE_CHARS)}"
        for ln in difflib.unified_diff(old_lines, new_lines, n=0, lineterm="")
        if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
    ]
    if not changed:
        return ""
    shown: list[str] = []
    used = 0
    for line in changed[:lines]:
        if used + len(line) + 1 > chars:
            break
        shown.append(_in_block(line))
        used += len(line) + 1
    if len(shown) < len(changed):
        shown.append(f"… {len(changed) - len(shown)} more changed line(s)")
    return f"{_FENCE}diff\n" + "\n".join(shown) + f"\n{_FENCE}"
