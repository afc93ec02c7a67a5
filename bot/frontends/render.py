"""AgentResult -> message payloads that fit Discord's limits: split or truncate visibly, never fail."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from spotrun.protocol import AgentResult, OutputFile

# Discord's documented limits (PLATFORM.md).
CONTENT = 2000
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
EMBED_TOTAL = 6000
EMBEDS_PER_MESSAGE = 10
FILES_PER_MESSAGE = 10

COLOR_OK = 0x2ECC71
COLOR_ERROR = 0xE74C3C


@dataclass
class Embed:
    title: str = ""
    description: str = ""
    fields: list[tuple[str, str, bool]] = field(default_factory=list)
    footer: str = ""
    color: int = COLOR_OK

    def size(self) -> int:
        # Discord counts title, description, field names and values, footer text and author name.
        return (
            len(self.title)
            + len(self.description)
            + sum(len(n) + len(v) for n, v, _ in self.fields)
            + len(self.footer)
        )


@dataclass
class Attachment:
    name: str
    content_type: str
    data: bytes


@dataclass
class Message:
    content: str = ""
    embeds: list[Embed] = field(default_factory=list)
    files: list[Attachment] = field(default_factory=list)

    def as_text(self) -> str:
        """The message as plain text: the console frontend prints this."""
        lines = [self.content] if self.content else []
        for e in self.embeds:
            if e.title:
                lines.append(f"== {e.title} ==")
            if e.description:
                lines.append(e.description)
            lines.extend(f"  {n}: {v}" for n, v, _ in e.fields)
            if e.footer:
                lines.append(f"-- {e.footer}")
        lines.extend(f"[file] {f.name} ({f.content_type}, {len(f.data)} bytes)" for f in self.files)
        return plain("\n".join(lines))


# --- untrusted text as text -------------------------------------------------------------------
# Agent output carries text from pages, files and providers: whoever wrote it must not get a
# disguised link (`[discord.com/nitro](https://evil…)`), a heading or a broken-out code block in a
# message the bot signs. Agents' own markup (bold, inline code, fenced tables) stays; brackets are
# escaped so a link shows its real URL, and any run of backticks that could end a fence early is
# broken with a zero-width space. Mentions are harmless as text: every post disables them.
ZWSP = "\u200b"
_FENCE_OPEN = re.compile(r"^\s*```[A-Za-z0-9_+\-.#]*\s*$")
_FENCE_CLOSE = re.compile(r"^\s*```\s*$")
_TICKS = re.compile(r"`{3,}")
_INLINE_CODE = re.compile(r"(`[^`\n]+`)")
_HEADING = re.compile(r"^(\s*)(#{1,3}\s|-#\s)")
_BRACKET = re.compile(r"(?<!\\)([\[\]])")  # not already escaped: neutralizing twice changes nothing
_UNESCAPE = re.compile(r"\\([\[\]#-])")


def _break_ticks(text: str) -> str:
    return _TICKS.sub(lambda m: ZWSP.join(m.group()), text)


def _escape_prose(line: str) -> str:
    parts = _INLINE_CODE.split(_break_ticks(line))
    for i in range(0, len(parts), 2):  # even parts are outside inline code
        parts[i] = _BRACKET.sub(r"\\\1", parts[i])
    out = "".join(parts)
    return _HEADING.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", out)


def neutralize(text: str, *, in_fence: bool = False) -> tuple[str, bool]:
    """`text` safe to show as Discord markdown, and whether it ended inside a code fence (the
    returned text is closed either way; a continuation passes `in_fence` to reopen it)."""
    lines = ["```"] if in_fence else []
    for line in text.split("\n"):
        if in_fence:
            if _FENCE_CLOSE.match(line):
                in_fence = False
                lines.append(line)
            else:
                lines.append(_break_ticks(line))
        elif _FENCE_OPEN.match(line):
            in_fence = True
            lines.append(line)
        else:
            lines.append(_escape_prose(line))
    if in_fence:
        lines.append("```")  # an unclosed fence is not code on Discord: what follows would render
    return "\n".join(lines), in_fence


def safe(text: str, limit: int) -> str:
    """Neutralized and within `limit`, cutting the source (never an escape or a fence) visibly."""
    budget = limit
    while True:
        out, _ = neutralize(clip(text, budget))
        if len(out) <= limit or budget <= 1:
            return out[:limit]
        budget -= len(out) - limit


def plain(text: str) -> str:
    """Neutralized markdown back to what it says, for surfaces that do not render it (console)."""
    return _UNESCAPE.sub(r"\1", text.replace(ZWSP, ""))


def clip(text: str, limit: int) -> str:
    """Truncate visibly: the reader sees that something was cut and how much."""
    if len(text) <= limit:
        return text
    # The marker's length depends on the number it shows: size it for the worst case.
    worst = len(f"… (+{len(text)} chars)")
    if worst >= limit:
        return text[: max(0, limit - 1)] + "…" if limit > 0 else ""
    cut = limit - worst
    return f"{text[:cut]}… (+{len(text) - cut} chars)"


def split_text(text: str, limit: int) -> list[str]:
    """Split on paragraph, then line, then word boundaries; hard-cut only a single huge word."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not chunks:
        chunks.append(rest)
    return chunks


def render_result(
    result: AgentResult,
    *,
    footer: str = "",
    upload_limit: int = 10 * 1024 * 1024,
    job_id: str = "",
) -> list[Message]:
    """One or more messages: embeds packed under every limit, files on the last message."""
    # Everything the agent wrote is untrusted text (see neutralize); the footer is the bot's own.
    title = safe(result.title or result.command, TITLE)
    footer = clip(f"{footer} · job {job_id}" if job_id else footer, FOOTER)
    fields = [
        (safe(f.name or ZWSP, FIELD_NAME), safe(f.value or ZWSP, FIELD_VALUE), f.inline)
        for f in result.fields
    ]
    files, notes = fit_files(result.files, upload_limit)
    warnings = [*result.warnings, *notes]
    if warnings:
        fields.append(("⚠ notes", safe("\n".join(f"• {w}" for w in warnings), FIELD_VALUE), False))

    # Room for the description in one embed: what title and footer leave of the 6000 total.
    room = min(DESCRIPTION, EMBED_TOTAL - len(title) - len(footer) - 40)
    parts = _safe_parts(result.text, room) if result.text else [""]
    embeds: list[Embed] = []
    for i, part in enumerate(parts):
        label = title if i == 0 else _suffixed(title, f" (continued {i + 1}/{len(parts)})")
        embeds.append(Embed(title=label, description=part))
    # Fields go into the last text embed while they fit, then into continuation embeds.
    for name, value, inline in fields:
        last = embeds[-1]
        if len(last.fields) >= FIELDS or last.size() + len(name) + len(value) + len(footer) > EMBED_TOTAL:
            last = Embed(title=_suffixed(title, " (more)"))
            embeds.append(last)
        last.fields.append((name, value, inline))
    embeds[-1].footer = footer

    messages: list[Message] = []
    for embed in embeds:
        current = messages[-1] if messages else None
        if (
            current is None
            or len(current.embeds) >= EMBEDS_PER_MESSAGE
            or sum(e.size() for e in current.embeds) + embed.size() > EMBED_TOTAL
        ):
            current = Message()
            messages.append(current)
        current.embeds.append(embed)
    for i in range(0, len(files), FILES_PER_MESSAGE):
        batch = files[i : i + FILES_PER_MESSAGE]
        if i == 0:
            messages[-1].files = batch
        else:
            messages.append(Message(content="(files, continued)", files=batch))
    return messages


def _safe_parts(text: str, room: int) -> list[str]:
    """Split the source so each neutralized part fits `room`; a fence cut between parts is closed
    at the end of one and reopened at the start of the next."""
    growth = len(neutralize(text)[0]) / max(len(text), 1)
    parts: list[str] = []
    in_fence = False
    for raw in split_text(text, max(int(room / growth) - 16, room // 4)):
        out, in_fence_after = neutralize(raw, in_fence=in_fence)
        parts.append(out if len(out) <= room else safe(raw, room))
        in_fence = in_fence_after
    return parts


def _suffixed(title: str, suffix: str) -> str:
    # The suffix is what tells the reader this is a continuation: cut the title, not it.
    return clip(title, TITLE - len(suffix)) + suffix


def render_error(text: str, *, job_id: str = "") -> Message:
    return Message(
        embeds=[
            Embed(
                title="Job failed",
                description=safe(text, DESCRIPTION),
                footer=f"job {job_id}" if job_id else "",
                color=COLOR_ERROR,
            )
        ]
    )


def fit_files(files: list[OutputFile], limit: int) -> tuple[list[Attachment], list[str]]:
    """Files within the upload limit; images are downscaled to fit, the rest explained."""
    kept: list[Attachment] = []
    notes: list[str] = []
    for f in files:
        if len(f.data) <= limit:
            kept.append(Attachment(f.name, f.content_type, f.data))
            continue
        if f.content_type.startswith("image/"):
            shrunk = _shrink_image(f, limit)
            if shrunk is not None:
                kept.append(shrunk)
                notes.append(f"{f.name} was re-encoded to fit the {_mib(limit)} upload limit")
                continue
        notes.append(
            f"{f.name} ({_mib(len(f.data))}) exceeds the {_mib(limit)} upload limit and was not attached"
        )
    return kept, notes


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def _shrink_image(f: OutputFile, limit: int) -> Attachment | None:
    try:
        from PIL import Image, UnidentifiedImageError  # optional: only images need it
    except ImportError:
        return None
    try:
        img = Image.open(io.BytesIO(f.data))
        img.load()
    except (UnidentifiedImageError, OSError):
        return None
    img = img.convert("RGB")
    stem = f.name.rsplit(".", 1)[0]
    for scale in (1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.1):
        size = (max(1, int(img.width * scale)), max(1, int(img.height * scale)))
        buf = io.BytesIO()
        img.resize(size).save(buf, format="JPEG", quality=85, optimize=True)
        if buf.tell() <= limit:
            return Attachment(f"{stem}.jpg", "image/jpeg", buf.getvalue())
    return None
