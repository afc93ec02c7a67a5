"""AgentResult -> message payloads that fit Discord's limits: split or truncate visibly, never fail."""

from __future__ import annotations

import io
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
        return "\n".join(lines)


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
    title = clip(result.title or result.command.value, TITLE)
    footer = clip(f"{footer} · job {job_id}" if job_id else footer, FOOTER)
    fields = [
        (clip(f.name or "\u200b", FIELD_NAME), clip(f.value or "\u200b", FIELD_VALUE), f.inline)
        for f in result.fields
    ]
    files, notes = fit_files(result.files, upload_limit)
    warnings = [*result.warnings, *notes]
    if warnings:
        fields.append(("⚠ notes", clip("\n".join(f"• {w}" for w in warnings), FIELD_VALUE), False))

    # Room for the description in one embed: what title and footer leave of the 6000 total.
    room = min(DESCRIPTION, EMBED_TOTAL - len(title) - len(footer) - 40)
    parts = split_text(result.text, room) if result.text else [""]
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


def _suffixed(title: str, suffix: str) -> str:
    # The suffix is what tells the reader this is a continuation: cut the title, not it.
    return clip(title, TITLE - len(suffix)) + suffix


def render_error(text: str, *, job_id: str = "") -> Message:
    return Message(
        embeds=[
            Embed(
                title="Job failed",
                description=clip(text, DESCRIPTION),
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
