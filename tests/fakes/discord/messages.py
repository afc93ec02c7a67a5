"""Creating and editing messages from request payloads, with Discord's validation limits."""

from __future__ import annotations

import copy
import mimetypes
import time
from typing import Any

from tests.fakes.discord.state import Event, Message, StoredFile, World

MAX_CONTENT = 2000
MAX_FILE_BYTES = 10 * 1024 * 1024
NONCE_WINDOW_S = 300.0
LOADING = 128  # MessageFlags.loading: the "Bot is thinking..." placeholder of a type-5 defer


class ApiError(Exception):
    """A Discord error answer: HTTP status plus the JSON {code, message[, errors]}."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


Upload = tuple[str, bytes, str]  # (filename, data, content_type) as received in files[n]


def _invalid(field: str, problem: str) -> ApiError:
    return ApiError(
        400,
        50035,
        "Invalid Form Body",
        {field: {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": problem}]}},
    )


def validate(payload: dict[str, Any], uploads: list[Upload]) -> None:
    """Discord's documented limits (PLATFORM.md), so the bot's truncation logic is exercised."""
    content = payload.get("content") or ""
    if len(content) > MAX_CONTENT:
        raise _invalid("content", f"Must be {MAX_CONTENT} or fewer in length.")
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        raise _invalid("embeds", "Must be 10 or fewer in length.")
    total = 0
    for i, e in enumerate(embeds):
        limits = {"title": 256, "description": 4096}
        for key, limit in limits.items():
            if len(e.get(key) or "") > limit:
                raise _invalid(f"embeds.{i}.{key}", f"Must be {limit} or fewer in length.")
            total += len(e.get(key) or "")
        fields = e.get("fields") or []
        if len(fields) > 25:
            raise _invalid(f"embeds.{i}.fields", "Must be 25 or fewer in length.")
        for f in fields:
            if len(f.get("name") or "") > 256 or len(f.get("value") or "") > 1024:
                raise _invalid(f"embeds.{i}.fields", "Field name/value too long.")
            total += len(f.get("name") or "") + len(f.get("value") or "")
        footer = (e.get("footer") or {}).get("text") or ""
        if len(footer) > 2048:
            raise _invalid(f"embeds.{i}.footer.text", "Must be 2048 or fewer in length.")
        total += len(footer) + len((e.get("author") or {}).get("name") or "")
    if total > 6000:
        raise _invalid("embeds", "Embed size exceeds maximum size of 6000")
    for _, data, _ in uploads:
        if len(data) > MAX_FILE_BYTES:
            raise ApiError(413, 40005, "Request entity too large")


def _content_type(filename: str, declared: str) -> str:
    # discord.py uploads everything as application/octet-stream; Discord sniffs from the name.
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def store_uploads(
    world: World,
    channel_id: int,
    payload: dict[str, Any],
    uploads: list[Upload],
    keep: list[StoredFile] | None = None,
) -> list[StoredFile]:
    """Map payload `attachments` ({id: n} -> files[n], {id: existing} -> kept) to stored files."""
    new_by_index: dict[int, StoredFile] = {}
    for index, (filename, data, ctype) in enumerate(uploads):
        f = StoredFile(world.ids.next(), filename, data, _content_type(filename, ctype), channel_id)
        world.files[f.id] = f
        new_by_index[index] = f
    if "attachments" not in payload:
        return (keep or []) + list(new_by_index.values())
    existing = {f.id: f for f in keep or []}
    result: list[StoredFile] = []
    for item in payload["attachments"] or []:
        ident = int(item["id"])
        if ident in existing:
            result.append(existing[ident])
        elif ident in new_by_index:
            f = new_by_index.pop(ident)
            if item.get("filename"):
                f.filename = item["filename"]
            result.append(f)
    return result + list(new_by_index.values())


def create(
    world: World,
    channel_id: int,
    author_id: int,
    payload: dict[str, Any],
    uploads: list[Upload],
    *,
    interaction_id: int | None = None,
    flags: int = 0,
) -> Message:
    validate(payload, uploads)
    if not (
        payload.get("content")
        or payload.get("embeds")
        or uploads
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
        or flags & LOADING
    ):
        raise ApiError(400, 50006, "Cannot send an empty message")
    with world.lock:
        msg = Message(
            id=world.ids.next(),
            channel_id=channel_id,
            author_id=author_id,
            content=payload.get("content") or "",
            embeds=copy.deepcopy(payload.get("embeds") or []),
            components=copy.deepcopy(payload.get("components") or []),
            allowed_mentions=payload.get("allowed_mentions"),
            nonce=payload.get("nonce"),
            message_reference=payload.get("message_reference"),
            interaction_id=interaction_id,
            flags=flags | int(payload.get("flags") or 0),
        )
        msg.files = store_uploads(world, channel_id, payload, uploads)
        world.messages[msg.id] = msg
        world.timeline.append(Event(time.time(), "create", msg.id, msg.text()))
    return msg


def dedupe(world: World, channel_id: int, payload: dict[str, Any]) -> Message | None:
    """The earlier message with this nonce when enforce_nonce is set and it is recent enough."""
    nonce = payload.get("nonce")
    if nonce is None or not payload.get("enforce_nonce"):
        return None
    with world.lock:
        hit = world.nonces.get((channel_id, str(nonce)))
        if hit and time.monotonic() - hit[1] < NONCE_WINDOW_S:
            return world.messages.get(hit[0])
    return None


def remember_nonce(world: World, msg: Message) -> None:
    if msg.nonce is not None:
        with world.lock:
            world.nonces[(msg.channel_id, str(msg.nonce))] = (msg.id, time.monotonic())


def edit(world: World, msg: Message, payload: dict[str, Any], uploads: list[Upload]) -> None:
    """Apply a PATCH (or a type-7 update) and keep the raw payload in msg.edits."""
    validate(payload, uploads)
    with world.lock:
        record = copy.deepcopy(payload)
        if uploads:
            record["files"] = [name for name, _, _ in uploads]
        msg.edits.append(record)
        if "content" in payload:
            msg.content = payload["content"] or ""
        if "embeds" in payload:
            msg.embeds = copy.deepcopy(payload["embeds"] or [])
        if "components" in payload:
            msg.components = copy.deepcopy(payload["components"] or [])
        if "allowed_mentions" in payload:
            msg.allowed_mentions = payload["allowed_mentions"]
        if "attachments" in payload or uploads:
            msg.files = store_uploads(world, msg.channel_id, payload, uploads, keep=msg.files)
        if "flags" in payload and payload["flags"] is not None:
            # Discord: an edit never changes whether a message is ephemeral (nor does the first
            # follow-up that replaces a public "thinking…" placeholder).
            msg.flags = (msg.flags & 64) | (int(payload["flags"]) & ~64)
        msg.flags &= ~LOADING
        msg.edited_at = time.time()
        world.timeline.append(Event(msg.edited_at, "edit", msg.id, msg.text()))
