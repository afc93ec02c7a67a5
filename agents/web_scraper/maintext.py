"""The fast main-text extractor: boilerplate pruning plus readability-style scoring on lexbor.

One pass turns the DOM into text blocks (paragraphs, headings, list items, table rows, and the
bare text of <div>s that hold no <p>), each remembering its ancestors. Blocks vote for their
ancestors; the best-scoring container, minus link-heavy and junk blocks, is the main text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Never content, whatever their size.
_DROP_TAGS = {
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "canvas",
    "iframe",
    "object",
    "embed",
    "button",
    "input",
    "select",
    "textarea",
    "option",
    "dialog",
    "head",
    "link",
    "meta",
}
# Usually boilerplate; removed unless they hold most of the page's text.
_BOILER_TAGS = {"nav", "aside", "footer", "header", "menu"}
_BOILER_ROLES = {"navigation", "banner", "complementary", "contentinfo", "dialog", "alertdialog", "search"}
# class/id tokens: strong ones win over content-looking tokens ("post-comments" is comments).
_STRONG = {
    "comment",
    "comments",
    "disqus",
    "related",
    "sidebar",
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "newsletter",
    "share",
    "sharing",
    "social",
    "advert",
    "advertisement",
    "ad",
    "ads",
    "adslot",
    "sponsor",
    "sponsored",
    "promo",
    "outbrain",
    "taboola",
    "breadcrumb",
    "breadcrumbs",
    "byline",
    "subscribe",
    "signup",
    "paywall",
    "popup",
    "modal",
    "recommended",
    "recommendations",
    "trending",
    "toc",
    "skip",
    "masthead",
    "pagination",
    "pager",
    "tags",
    "tagcloud",
    "author",
    "bio",
    "reply",
    "meta",
    "signature",
    "sig",
    "attribution",
    "timestamp",
    "posted",
    "date",
}
_WEAK = {
    "nav",
    "navbar",
    "navigation",
    "menu",
    "footer",
    "header",
    "banner",
    "widget",
    "meta",
    "hidden",
    "share",
    "tools",
    "toolbar",
    "aside",
    "rail",
    "more",
    "promo",
    "utility",
    "print",
    "dateline",
    "extra",
    "secondary",
    "partner",
}
_POSITIVE = {
    "article",
    "content",
    "entry",
    "main",
    "post",
    "text",
    "story",
    "body",
    "prose",
    "markdown",
    "cooked",
    "message",
    "page",
    "blog",
    "section",
    "document",
    "docs",
}
_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "blockquote",
    "table",
    "tr",
    "thead",
    "tbody",
    "tfoot",
    "caption",
    "figure",
    "figcaption",
    "address",
    "body",
    "html",
    "hr",
    "form",
    "fieldset",
    "details",
    "summary",
    "center",
    "header",
    "footer",
    "nav",
    "aside",
    "td",
    "th",
}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_KEEP_SHORT = _HEADINGS | {"li", "tr", "dt", "dd", "pre", "th", "td", "blockquote"}
_CELLS = {"td", "th"}
_TOKEN = re.compile(r"[a-z]+")
_SPACE = re.compile(r"\s+")
JUNK_LINES = {
    "advertisement",
    "advertisment",
    "ad",
    "share",
    "tweet",
    "print",
    "email",
    "read more",
    "continue reading",
    "skip to content",
    "back to top",
    "subscribe",
    "sponsored",
    "loading...",
    "share this article",
    "share on facebook",
    "share on twitter",
    "follow us",
}


@dataclass
class Block:
    """One paragraph-like run of text and the element path that holds it."""

    text: str
    tag: str
    link_chars: int
    path: tuple[int, ...]  # mem_ids of ancestors, outermost first

    @property
    def is_heading(self) -> bool:
        return self.tag in _HEADINGS


@dataclass
class _Builder:
    blocks: list[Block] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    link_chars: int = 0
    tag: str = "p"
    path: tuple[int, ...] = ()
    signature: dict[int, tuple[str, str]] = field(default_factory=dict)

    def flush(self) -> None:
        text = "".join(self.parts)
        text = _SPACE.sub(" ", text).strip() if self.tag != "pre" else text.strip("\n")
        text = text.strip(" |")
        if text:
            if self.tag == "li":
                text = f"- {text}"
            self.blocks.append(Block(text, self.tag, self.link_chars, self.path))
        self.parts = []
        self.link_chars = 0


def _tokens(node: Any) -> set[str]:
    attrs = node.attributes
    raw = f"{attrs.get('class') or ''} {attrs.get('id') or ''}".lower()
    return set(_TOKEN.findall(raw)) if raw.strip() else set()


def _is_boilerplate(node: Any) -> bool:
    tag = node.tag
    if tag in ("html", "body", "main"):
        return False
    attrs = node.attributes
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = (attrs.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    if tag in _BOILER_TAGS or (attrs.get("role") or "").lower() in _BOILER_ROLES:
        return True
    tokens = _tokens(node)
    if not tokens:
        return False
    if tokens & _STRONG:
        return tag != "article" or bool(tokens & {"comment", "comments", "related", "reply"})
    return bool(tokens & _WEAK) and not tokens & _POSITIVE


def prune(root: Any) -> None:
    """Remove never-content tags, then boilerplate that does not hold most of the text."""
    for node in root.css(",".join(sorted(_DROP_TAGS))):
        node.decompose()
    total = len(root.text(deep=True, separator=" ", strip=True)) or 1
    candidates = [
        node for node in root.traverse() if node.tag and node.tag[0] != "-" and _is_boilerplate(node)
    ]
    removed: set[int] = set()
    for node in candidates:
        # A wrapper wrongly named "content-with-sidebar" must not take the article with it.
        if len(node.text(deep=True, separator=" ", strip=True)) > 0.5 * total:
            continue
        if node.mem_id not in removed:
            for inner in node.traverse():
                removed.add(inner.mem_id)
            node.decompose()


def _walk(node: Any, out: _Builder, in_link: bool, in_pre: bool) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            text = child.text_content or ""
            out.parts.append(text if in_pre else text.replace("\n", " "))
            if in_link:
                out.link_chars += len(text.strip())
            continue
        if not tag or tag[0] == "-":
            continue
        if tag == "br":
            out.parts.append("\n" if in_pre else " ")
            if not in_pre and out.tag not in _HEADINGS and out.tag != "li":
                out.flush()
            continue
        if tag in _CELLS:
            if out.parts and "".join(out.parts).strip():
                out.parts.append(" | ")
            _walk(child, out, in_link, in_pre)
            continue
        if tag in _BLOCK_TAGS:
            out.flush()
            saved_tag, saved_path = out.tag, out.path
            # A <p> inside a list item is still the list item.
            out.tag = "li" if saved_tag == "li" and tag in ("p", "div") else tag
            out.path = (*saved_path, child.mem_id)
            out.signature[child.mem_id] = (tag, child.attributes.get("class") or "")
            _walk(child, out, in_link, in_pre or tag == "pre")
            out.flush()
            out.tag, out.path = saved_tag, saved_path
            continue
        _walk(child, out, in_link or tag == "a", in_pre)


def blocks_of(root: Any) -> tuple[list[Block], dict[int, tuple[str, str]]]:
    """Text blocks in document order, and each container's (tag, class) signature."""
    out = _Builder(path=(root.mem_id,), tag=root.tag or "div")
    _walk(root, out, False, False)
    out.flush()
    return out.blocks, out.signature


def _is_good(block: Block) -> bool:
    words = len(block.text.split())
    if block.text.lower().strip(" .:!-") in JUNK_LINES:
        return False
    if block.link_chars > 0.5 * len(block.text):
        return False
    return words >= 8 or (words >= 3 and block.text.rstrip()[-1:] in ".!?:;")


def choose(blocks: list[Block]) -> tuple[int | None, float]:
    """The mem_id of the best container and its score (readability's ancestor voting)."""
    scores: dict[int, float] = {}
    for block in blocks:
        if not _is_good(block):
            continue
        score = 1 + block.text.count(",") + block.text.count("、") + min(len(block.text) / 100, 3)
        # Parent gets it all, grandparent half, then thirds: deep containers win ties.
        for level, ancestor in enumerate(reversed(block.path[-5:])):
            if level == 0 and len(block.path) > 1 and block.tag not in ("div", "section"):
                continue  # the block's own element
            scores[ancestor] = scores.get(ancestor, 0.0) + score / (1 if level <= 1 else level * 1.5)
    if not scores:
        return None, 0.0
    best = max(scores, key=lambda k: scores[k])
    return best, scores[best]


def _with_similar_siblings(best: int, blocks: list[Block], signature: dict[int, tuple[str, str]]) -> set[int]:
    """`best` plus look-alike siblings of it or of a wrapper around it (the posts of a thread).

    Climbs only through wrappers that add no content of their own, and merges only siblings
    with the same tag and class and a comparable amount of text: a comment list next to an
    article does not qualify, the next post of a forum thread does.
    """
    good: dict[int, int] = {}
    parent: dict[int, int] = {}
    children: dict[int, set[int]] = {}
    for block in blocks:
        chars = len(block.text) - block.link_chars if _is_good(block) else 0
        for i, node in enumerate(block.path):
            good[node] = good.get(node, 0) + chars
            if i:
                parent[node] = block.path[i - 1]
                children.setdefault(block.path[i - 1], set()).add(node)
    probe = best
    while probe in parent:
        up = parent[probe]
        similar = {
            child
            for child in children.get(up, ())
            if child != probe
            and signature.get(child) == signature.get(probe)
            and good.get(child, 0) >= 0.2 * good[probe]
        }
        if similar:
            return {probe, *similar}
        if good[up] > good[probe]:
            return {best}  # the wrapper has other content: the article ends here
        probe = up
    return {best}


def main_text_blocks(root: Any, title: str | None = None) -> tuple[list[Block], float]:
    """The main-content blocks of a pruned tree, and the winning container's score."""
    blocks, signature = blocks_of(root)
    best, score = choose(blocks)
    if best is None:
        kept = [b for b in blocks if _is_good(b) or b.is_heading]
        return _clean(kept, title), 0.0
    anchors = _with_similar_siblings(best, blocks, signature)
    inside = [b for b in blocks if anchors.intersection(b.path)]
    return _clean(inside, title), score


def _clean(blocks: list[Block], title: str | None) -> list[Block]:
    norm_title = _SPACE.sub(" ", title or "").strip().lower()
    kept: list[Block] = []
    for i, block in enumerate(blocks):
        text = block.text
        low = text.lower().strip(" .:!-")
        if low in JUNK_LINES:
            continue
        if block.is_heading and norm_title and (low == norm_title or low in norm_title) and i < 3:
            continue  # the headline is reported as the title
        if block.link_chars > 0.6 * len(text) and not block.is_heading and len(text) < 200:
            continue  # "Read more: …" links and inline link lists
        if len(text.split()) < 4 and block.tag not in _KEEP_SHORT and text[-1:] not in ".!?:;…":
            continue  # user names, "New member", "Jan 8, 2024 #1": labels, not prose
        kept.append(block)
    # A heading with nothing after it (a dropped section's title) is noise.
    while kept and kept[-1].is_heading:
        kept.pop()
    return kept


def render(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if block.is_heading and lines:
            lines.append("")
        lines.append(block.text)
        if block.is_heading or block.tag not in ("li", "tr", "dt", "dd", "pre"):
            lines.append("")
    return "\n".join(lines).strip()
