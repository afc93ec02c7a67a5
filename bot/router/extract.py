"""Arguments from plain words: each field of a command's JSON Schema is filled by the extractor its
shape calls for (a URL, a number beside its cue word, an enum value or a word naming it, columns of
the attached CSV, a language, quoted text, the free text after a request's cue)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.router.text import Folded, find_phrase, fold, near_miss

URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|«([^»]+)»|'([^']{2,})'(?![a-z])")
_KEY_VALUE = re.compile(r"(?<![\w/])([a-z_]+)=(\"[^\"]*\"|\S+)")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)(?![\d])")
_CSS_TOKEN = re.compile(
    r"(?<![\w/.])([.#][A-Za-z][\w-]*(?:\s*[>+~]\s*[.#]?[A-Za-z][\w-]*|\s+[.#][A-Za-z][\w-]*)*)"
)
_TAGS = ("h1", "h2", "h3", "h4", "li", "td", "tr", "th", "img", "table", "span", "div", "article", "p", "a")
_DATE_WORDS = (
    "date", "day", "month", "year", "week", "time", "quarter", "period", "timestamp", "hour",
    "data", "dia", "mes", "ano", "semana", "fecha", "periodo", "trimestre", "hora",
)  # fmt: skip
# Words after which a column is the x axis ("revenue by month", "preço contra área").
_X_MARKERS = (
    "by", "per", "over", "vs", "versus", "against", "across", "por", "contra", "sobre", "x",
    "ao longo do", "ao longo de", "a lo largo de", "along",
)  # fmt: skip
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "twelve": 12, "twenty": 20, "thirty": 30,
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6, "sete": 7,
    "oito": 8, "nove": 9, "dez": 10, "doze": 12, "vinte": 20, "trinta": 30,
    "uno": 1, "dos": 2, "cuatro": 4, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "doce": 12,
    "veinte": 20, "treinta": 30,
}  # fmt: skip
# Language names in English, Portuguese and Spanish -> (short code, locale).
_LANGUAGES = {
    ("english", "ingles"): ("en", "en-US"),
    ("portuguese", "portugues", "brazilian", "brasileiro"): ("pt", "pt-BR"),
    ("spanish", "espanhol", "espanol", "castellano"): ("es", "es-ES"),
    ("french", "frances"): ("fr", "fr-FR"),
    ("german", "alemao", "aleman"): ("de", "de-DE"),
    ("italian", "italiano"): ("it", "it-IT"),
}
_LOCALE = re.compile(r"(?<![\w-])([a-z]{2})-([a-z]{2})(?![\w-])")
# Words before a value that make it the target ("convert this wav to ogg" -> ogg).
_TARGET_MARKERS = frozenset(["to", "into", "as", "para", "pra", "a", "em", "en", "in"])
# "this photo", "nessa foto", "esta imagen": pointing at the attachment, never part of a value.
# fmt: off
_DEICTIC = frozenset(
    [
        "this", "that", "these", "it", "isso", "isto", "esto", "eso", "essa", "esse", "esta", "este",
        "nessa", "nesse", "nesta", "neste", "dessa", "desse", "desta", "deste", "my", "me", "mi",
        "minha", "meu", "pra", "para"
    ]
)
# fmt: on
_ARTICLES = frozenset(["a", "an", "the", "o", "um", "uma", "el", "la", "un", "una"])
# Left over around a removed value ("in portuguese", "as ogg"): trimmed from free text.
# fmt: off
_FILLER = frozenset(
    [
        "in", "as", "em", "en", "com", "con", "with", "no", "na", "to", "para", "formato", "format",
        "voice", "voz", "the", "a", "o", "el", "la", "please", "por", "favor", "and", "e", "y", "using",
        "usando", "at"
    ]
)
# fmt: on


@dataclass(frozen=True)
class FileInfo:
    """What the router knows about an attachment: its name, type, size and, for a table, its header."""

    name: str
    content_type: str
    size: int = 0
    columns: tuple[str, ...] = ()


@dataclass
class Extraction:
    args: dict[str, Any] = field(default_factory=dict)
    used: list[tuple[int, int]] = field(default_factory=list)  # folded spans already taken

    def free(self, start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in self.used)

    def take(self, start: int, end: int) -> None:
        self.used.append((start, end))


def prop_of(schema: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A property with `X | None` unwrapped and its x- hints kept."""
    raw = dict((schema.get("properties") or {}).get(key) or {})
    options = raw.get("anyOf")
    if isinstance(options, list):
        real = [o for o in options if o.get("type") != "null"]
        if len(real) == 1:
            raw = {**raw, **real[0]}
            raw.pop("anyOf", None)
    return raw


def extract(
    schema: Mapping[str, Any],
    positional: Sequence[str],
    templates: Sequence[str],
    text: str,
    files: Sequence[FileInfo] = (),
) -> dict[str, Any]:
    """Raw arguments for one command from a request; the typed model validates them afterwards."""
    f = Folded.of(text)
    ex = Extraction()
    keys = list((schema.get("properties") or {}).keys())
    props = {k: prop_of(schema, k) for k in keys}
    _key_values(f, ex, props)
    for key, prop in props.items():
        if key in ex.args:
            continue
        if prop.get("format") == "uri":
            _url(f, ex, key)
    quoted = _quotes(f, ex)
    for key, prop in props.items():
        if key in ex.args:
            continue
        if prop.get("x-kind") == "title":
            _title(f, ex, key, prop, quoted)
        elif prop.get("enum"):
            _enum(f, ex, key, prop)
        elif prop.get("type") == "boolean":
            _boolean(f, ex, key, prop)
        elif prop.get("x-kind") == "language":
            _language(f, ex, key, prop)
    for key, prop in props.items():
        if key not in ex.args and prop.get("type") in ("integer", "number") and not prop.get("enum"):
            _number(f, ex, key, prop)
    _columns(f, ex, props, files)
    for key, prop in props.items():
        if key in ex.args:
            continue
        if prop.get("x-kind") == "css":
            _css(f, ex, key, prop, quoted)
        elif prop.get("type") == "string" and prop.get("x-words"):
            _words_value(f, ex, key, prop)
    free = [k for k in positional if k not in ex.args and _is_free_text(props.get(k, {}))]
    if free:
        _free_text(f, ex, free[0], templates, quoted)
    return ex.args


def _is_free_text(prop: Mapping[str, Any]) -> bool:
    return prop.get("type") == "string" and not (
        prop.get("enum") or prop.get("format") or prop.get("x-kind") or prop.get("x-words")
    )


# ------------------------------------------------------------------------------ extractors


def _key_values(f: Folded, ex: Extraction, props: Mapping[str, Any]) -> None:
    """`steps=30` typed inside a sentence: the user said exactly what they meant."""
    for m in _KEY_VALUE.finditer(f.text):
        if m.group(1) in props:
            start, end = f.span(m.start(2), m.end(2))
            ex.args[m.group(1)] = f.original[start:end].strip('"')
            ex.take(m.start(), m.end())


def _url(f: Folded, ex: Extraction, key: str) -> None:
    for m in URL.finditer(f.original):
        start, end = m.start(), m.end()
        value = m.group(0).rstrip(".,;:!?)>")
        folded = _folded_span(f, start, start + len(value))
        if ex.free(*folded):
            ex.args[key] = value
            ex.take(folded[0], _folded_span(f, start, end)[1])
            return


def _folded_span(f: Folded, start: int, end: int) -> tuple[int, int]:
    first = next((i for i, o in enumerate(f.origin) if o >= start), len(f.origin))
    last = next((i for i, o in enumerate(f.origin) if o >= end), len(f.origin))
    return first, last


def _quotes(f: Folded, ex: Extraction) -> list[tuple[int, int, str]]:
    out = []
    for m in _QUOTED.finditer(f.original):
        group = next(i for i in range(1, 5) if m.group(i) is not None)
        folded = _folded_span(f, m.start(), m.end())
        if ex.free(*folded):
            out.append((folded[0], folded[1], m.group(group).strip()))
    return out


def _matches(f: Folded, phrase: str) -> tuple[int, int] | None:
    hit = find_phrase(f.text, phrase)
    if hit is not None or " " in phrase.strip() or len(fold(phrase)) < 5:
        return hit
    target = fold(phrase)
    for m in re.finditer(r"[a-z0-9]+", f.text):
        if near_miss(m.group(0), target):
            return m.start(), m.end()
    return None


def _enum(f: Folded, ex: Extraction, key: str, prop: Mapping[str, Any]) -> None:
    """A value named as itself beats one named by a word ("the audio … as ogg" -> ogg); among
    equals, the first named wins."""
    values = prop["enum"]
    words: Mapping[str, list[str]] = prop.get("x-words") or {}
    found: list[tuple[int, int, int, Any, tuple[int, int]]] = []
    for value in values:
        names = [(0, str(value))] + [(1, w) for w in words.get(str(value), [])]
        if isinstance(value, str) and "_" in value:
            names.append((0, value.replace("_", " ")))
        for rank, name in names:
            hit = _matches(f, name)
            if hit is None or not ex.free(*hit):
                continue
            if isinstance(value, int) and rank == 0:
                continue  # a bare "4" is a number, not a scale: its words say "4x"
            before = f.text[: hit[0]].split()[-1:]
            marked = 0 if before and before[0] in _TARGET_MARKERS else 1
            found.append((rank, marked, hit[0], value, hit))
    # "holt-winters" names one value even though "holt" (another) is inside it.
    found = [
        c for c in found if not any(o[4] != c[4] and o[4][0] <= c[4][0] and c[4][1] <= o[4][1] for o in found)
    ]
    if found:
        best = min(found, key=lambda c: c[:3])
        ex.args[key] = best[3]
        ex.take(*best[4])


def _boolean(f: Folded, ex: Extraction, key: str, prop: Mapping[str, Any]) -> None:
    words: Mapping[str, list[str]] = prop.get("x-words") or {}
    for value, names in words.items():
        for name in names:
            hit = _matches(f, name)
            if hit is not None and ex.free(*hit):
                ex.args[key] = value == "true"
                ex.take(*hit)
                return


def _language(f: Folded, ex: Extraction, key: str, prop: Mapping[str, Any]) -> None:
    locale = "-" in str(prop.get("default") or "")
    m = _LOCALE.search(f.text)
    if m and ex.free(m.start(), m.end()):
        ex.args[key] = f"{m.group(1)}-{m.group(2).upper()}" if locale else m.group(1)
        ex.take(m.start(), m.end())
        return
    for names, (short, full) in _LANGUAGES.items():
        for name in names:
            hit = _matches(f, name)
            if hit is not None and ex.free(*hit):
                ex.args[key] = full if locale else short
                ex.take(*hit)
                return


def _numbers(f: Folded, ex: Extraction) -> list[tuple[int, int, float]]:
    found: list[tuple[int, int, float]] = []
    words: list[tuple[int, int, float]] = []
    for m in _NUMBER.finditer(f.text):
        if ex.free(m.start(), m.end()):
            found.append((m.start(), m.end(), float(m.group(1).replace(",", "."))))
    for m in re.finditer(r"[a-z]+", f.text):
        if m.group(0) in _NUMBER_WORDS and ex.free(m.start(), m.end()):
            words.append((m.start(), m.end(), float(_NUMBER_WORDS[m.group(0)])))
    # Digits first: a number word may be an ordinary word too (Portuguese "dos" = "of the").
    return sorted(found) + sorted(words)


def _number(f: Folded, ex: Extraction, key: str, prop: Mapping[str, Any]) -> None:
    """A number right beside one of the field's cue words ("3 images", "next 12 months")."""
    cues = [fold(c) for c in prop.get("x-cues") or []]
    if not cues:
        return
    for start, end, value in _numbers(f, ex):
        cue = _cue_beside(f, start, end, cues)
        if cue is None:
            continue
        low, high = prop.get("minimum"), prop.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            continue  # "the first 1000 results" is not a valid limit: leave the default
        ex.args[key] = int(value) if prop.get("type") == "integer" and value.is_integer() else value
        ex.take(start, end)
        ex.take(*cue)  # "months" in "next 6 months" is not also a column
        return


def _cue_beside(f: Folded, start: int, end: int, cues: list[str]) -> tuple[int, int] | None:
    """The span of a cue word among the two words after the number or the two before it."""
    after = [(m.start() + end, m.end() + end, m.group(0)) for m in re.finditer(r"[a-z]+", f.text[end:])][:2]
    before = [(m.start(), m.end(), m.group(0)) for m in re.finditer(r"[a-z]+", f.text[:start])][-2:]
    for s, e, word in (*after, *reversed(before)):
        if any(word == c or (len(c) > 3 and word.startswith(c)) for c in cues):
            return s, e
    return None


def _title(
    f: Folded, ex: Extraction, key: str, prop: Mapping[str, Any], quoted: list[tuple[int, int, str]]
) -> None:
    for cue in prop.get("x-cues") or []:
        hit = find_phrase(f.text, cue)
        if hit is None or not ex.free(*hit):
            continue
        for start, end, value in quoted:
            if 0 <= start - hit[1] <= 3:
                ex.args[key] = value
                ex.take(hit[0], end)
                return
        rest = f.text[hit[1] :]
        stop = re.search(r"[,.;]|\s(?:with|com|con|and|e|y)\s", rest)
        cut = hit[1] + (stop.start() if stop else len(rest))
        start, end = f.span(hit[1], cut)
        value = f.original[start:end].strip(" :")
        if value:
            ex.args[key] = value
            ex.take(hit[0], cut)
            return


def _date_like(name: str) -> bool:
    folded = fold(name)
    return any(w in re.split(r"[^a-z]+", folded) for w in _DATE_WORDS)


def _column_hits(f: Folded, ex: Extraction, columns: Sequence[str]) -> list[tuple[int, int, str]]:
    hits = []
    words = [(m.start(), m.end(), m.group(0)) for m in re.finditer(r"[a-z0-9]+", f.text)]
    for column in columns:
        name = fold(column).replace("_", " ").replace("-", " ").strip()
        if not name:
            continue
        hit = find_phrase(f.text, name)
        if hit is None and " " not in name:
            for start, end, word in words:
                if (
                    word in (name + "s", name + "es")
                    or name in (word + "s", word + "es")
                    or (len(name) >= 5 and near_miss(word, name))
                ):
                    hit = (start, end)
                    break
        if hit is not None and ex.free(*hit):
            hits.append((hit[0], hit[1], column))
    hits.sort()
    # A column whose name is inside a longer mentioned one ("revenue" in "net revenue") is that one.
    return [h for h in hits if not any(o != h and o[0] <= h[0] and h[1] <= o[1] for o in hits)]


def _columns(
    f: Folded, ex: Extraction, props: Mapping[str, Mapping[str, Any]], files: Sequence[FileInfo]
) -> None:
    """Columns of the attached table named in the request. The one after "by"/"por"/"vs" is the
    x axis; else a named date-like column; the others are the values."""
    header = next((fi.columns for fi in files if fi.columns), ())
    x_keys = [k for k, p in props.items() if p.get("x-kind") == "x-column" and k not in ex.args]
    y_keys = [k for k, p in props.items() if p.get("x-kind") == "column" and k not in ex.args]
    if not header or not (x_keys or y_keys):
        return
    hits = _column_hits(f, ex, header)
    if not hits:
        return
    x_col: str | None = None
    if x_keys:
        for start, _, column in hits:
            words = f.text[:start].split()
            while words and words[-1] in _ARTICLES | {"os", "as", "los", "las", "do", "da", "del"}:
                words.pop()  # "contra a área", "por el mes"
            before = " ".join(words)
            if any(before.endswith(" " + m) or before == m for m in _X_MARKERS):
                x_col = column
                break
        if x_col is None:
            x_col = next((c for _, _, c in hits if _date_like(c)), None)
        if x_col is None and len(hits) >= 2 and not any(_date_like(c) for c in header):
            x_col = hits[0][2]  # two value columns and no time axis: the first is x ("area and price")
    rest = [c for _, _, c in hits if c != x_col]
    if x_col is not None and x_keys:
        ex.args[x_keys[0]] = x_col
    for key in y_keys:
        if not rest:
            break
        ex.args[key] = rest if props[key].get("type") == "array" or "anyOf" in props[key] else rest[0]
        rest = [] if props[key].get("type") == "array" else rest[1:]
    for start, end, _ in hits:
        ex.take(start, end)


def _css(
    f: Folded, ex: Extraction, key: str, prop: Mapping[str, Any], quoted: list[tuple[int, int, str]]
) -> None:
    for start, end, value in quoted:
        if ex.free(start, end):
            ex.args[key] = value
            ex.take(start, end)
            return
    m = _CSS_TOKEN.search(f.original)
    if m:
        folded = _folded_span(f, m.start(), m.end())
        if ex.free(*folded):
            ex.args[key] = m.group(1)
            ex.take(*folded)
            return
    for tag in _TAGS:
        hit = find_phrase(f.text, tag)
        if hit is not None and ex.free(*hit) and tag not in ("a", "p"):
            ex.args[key] = tag
            ex.take(*hit)
            return
    _words_value(f, ex, key, prop, consume=False)


def _words_value(
    f: Folded, ex: Extraction, key: str, prop: Mapping[str, Any], *, consume: bool = False
) -> None:
    """A free string named by one of its words ("links" -> href). Not consumed: one word may name
    two fields ("links": selector a, attribute href)."""
    best: tuple[int, str] | None = None
    for value, names in (prop.get("x-words") or {}).items():
        for name in names:
            hit = _matches(f, name)
            if hit is not None and ex.free(*hit) and (best is None or hit[0] < best[0]):
                best = (hit[0], value)
    if best is not None:
        ex.args[key] = best[1]


def _free_text(
    f: Folded, ex: Extraction, key: str, templates: Sequence[str], quoted: list[tuple[int, int, str]]
) -> None:
    """The words the request is about: quoted text, else what follows a colon, else what follows
    the request's opening words — those the command's templates use before `{key}` ("generate 4
    images of | a robot") — less what other fields took and the template's closing words."""
    for start, end, value in quoted:
        if ex.free(start, end):
            ex.args[key] = value
            ex.take(start, end)
            return
    slot = "{" + key + "}"
    heads = [t.partition(slot)[0] for t in templates if slot in t]
    tails = [t.partition(slot)[2] for t in templates if slot in t]
    head_words = {w for h in heads for w in re.findall(r"[a-z0-9]+", fold(h))}
    finals = {re.findall(r"[a-z0-9]+", fold(h))[-1] for h in heads if re.findall(r"[a-z0-9]+", fold(h))}
    finals -= _ARTICLES  # "apply a {style}": the article belongs to the value
    tail_words = {w for t in tails for w in re.findall(r"[a-z0-9]+", fold(t))} | _DEICTIC
    colon = re.search(r":\s", f.text)
    if colon is not None:
        begin = colon.end()
    else:
        # "ok then, say good night": a template's opening found further in counts too.
        found = [hit for h in heads if (hit := find_phrase(f.text, fold(h).strip(" :"))) and ex.free(*hit)]
        first = min(found, key=lambda hit: (hit[0], -hit[1])) if found else (0, 0)
        begin = max(_after_opening(f, ex, head_words, finals), first[1])
    value = _without_taken(f, ex, begin, len(f.text))
    words = value.split()
    while len(words) > 1 and fold(words[-1]).strip(".,;:!?") in tail_words:
        words.pop()
    value = " ".join(words).strip(" ,;:-")
    if value:
        ex.args[key] = value


def _known(word: str, vocabulary: set[str]) -> bool:
    stem = word[:-1] if word.endswith("s") and len(word) > 3 else word
    return word in vocabulary or stem in vocabulary or any(near_miss(word, v) for v in vocabulary)


def _after_opening(f: Folded, ex: Extraction, head_words: set[str], finals: set[str]) -> int:
    """Where the value starts: after the last template-final word ("of", "de", "draw", "say") of
    the run of opening words at the start of the request; 0 when there is no such run."""
    begin = 0
    for m in re.finditer(r"[a-z0-9]+", f.text):
        word = m.group(0)
        if not ex.free(m.start(), m.end()):
            continue  # "4" in "generate 4 images of": taken by another field
        if _known(word, finals):
            begin = m.end()
        elif not (_known(word, head_words) or word in _DEICTIC):
            break
    return begin


def _without_taken(f: Folded, ex: Extraction, start: int, end: int) -> str:
    keep = [i for i in range(start, end) if ex.free(i, i + 1)]
    pieces: list[str] = []
    last = None
    for i in keep:
        o = f.origin[i]
        if last is not None and o == last:
            continue
        if last is not None and o != last + 1:
            pieces.append(" ")
        pieces.append(f.original[o])
        last = o
    words = "".join(pieces).split()
    # Trim the small words a removed value leaves behind ("… in", "… as").
    while words and fold(words[-1]).strip(".,;:!?") in _FILLER:
        words.pop()
    while words and fold(words[0]).strip(".,;:!?") in _FILLER - {"a", "o", "the", "el", "la"}:
        words.pop(0)
    return " ".join(words).strip(" ,;:-")
