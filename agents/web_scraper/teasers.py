"""Drops the lines of an extracted main text that point readers elsewhere ("Read also: …", junk labels).

News sites put links to other articles inside the article body ("Lesen Sie auch: …", "Lea
también: …", "À lire aussi"); an extractor that keeps the body keeps them too, and readers see
another story's headline in the middle of this one. The prefixes are the ones seen on real pages
in the trafilatura evaluation set (dev split), in the languages it covers.
"""

from __future__ import annotations

import re

from agents.web_scraper.maintext import JUNK_LINES

_TEASER = re.compile(
    r"^\s*[-•]?\s*(?:"
    r"lesen sie (?:auch|mehr)|lies auch|auch interessant|mehr zum thema|weitere artikel|weiterlesen"
    r"|das könnte sie (?:auch )?interessieren|entdecke weitere"
    r"|lea(?: también| tambien| más| mas| además)?|lee también|lee tambien|leer más|mira|ver también"
    r"|puedes ver|te puede interesar|le puede interesar|sigue leyendo|más sobre"
    r"|à lire aussi|a lire aussi|lire aussi|voir aussi"
    r"|leia também|leia mais|veja também|czytaj (?:też|także|również)|zobacz (?:też|także)"
    r"|read (?:more|also|next)|see also|related(?: articles?| stories| posts?)?|also read|more from"
    r"|recommended(?: for you)?|you may also like|you might also like|more"
    r")\s*[:|»>\-–—]",
    re.IGNORECASE,
)


# Calls to action and bracketed pointers that sit between paragraphs on English news sites
# ("[Related: …]", "SEE MORE: …", "Filed under: …", "… [VIDEO]"), seen in the article benchmark's dev split.
_PROMPT = re.compile(
    r"^\s*(?:\[\s*related\b|related\s*:|see more|don'?t miss|filed under|click here|tell us what"
    r"|like this story|thanks for signing up|sign up for|subscribe to|follow us)\b",
    re.IGNORECASE,
)
_PROMPT_MAX_WORDS = 20
_TAGGED = re.compile(
    r"\[(?:video|insight|reaction|pics|poll|gallery|watch|photos)\]\s*\|?\s*$", re.IGNORECASE
)


def is_teaser(line: str) -> bool:
    """A "read also"-style pointer to another page, or a lone junk label ("Share", "Advertisement")."""
    if _TEASER.match(line) or _TAGGED.search(line):
        return True
    # Prompts are one short line; an article sentence may start the same way and run on.
    if _PROMPT.match(line) and len(line.split()) <= _PROMPT_MAX_WORDS:
        return True
    return line.strip().strip("-• ").strip().lower().rstrip(":.!") in JUNK_LINES


def drop_teasers(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not is_teaser(line))
