"""What a routed request left behind, kept in the store (any process, any restart can read it): the
readings offered, the files to fetch again, and which job each routed status message belongs to."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.jobs.store import JobStore

_RECORD = "route:{id}"
_ORIGIN = "route-origin:{origin}"


@dataclass
class FileRef:
    """An attachment to read again when a button is pressed later (Discord keeps its URL)."""

    name: str
    content_type: str
    size: int
    url: str
    columns: list[str] = field(default_factory=list)


@dataclass
class ReadingRef:
    command: str
    args: dict[str, Any]
    line: str


@dataclass
class RouteRecord:
    user_id: str
    guild_id: str | None
    channel_id: str
    text: str
    files: list[FileRef]
    readings: list[ReadingRef]
    router: str = "offline"
    cost_usd: float = 0.0
    picked: list[int] = field(default_factory=list)  # readings already started (once each)
    id: str = field(default_factory=lambda: secrets.token_hex(6))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RouteRecord:
        data = json.loads(text)
        data["files"] = [FileRef(**f) for f in data.get("files", [])]
        data["readings"] = [ReadingRef(**r) for r in data.get("readings", [])]
        return cls(**data)


@dataclass
class Note:
    """What the status message of a routed job says on top: how the request was understood."""

    route_id: str
    line: str
    router: str
    cost_usd: float

    def text(self) -> str:
        cost = f" · routed by {self.router}, ≈ ${self.cost_usd:.5f}" if self.cost_usd > 0 else ""
        return f"→ `{self.line}`{cost}"


class RouteRecords:
    """Records and notes in the store's meta table (no schema of their own)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    async def save(self, record: RouteRecord) -> None:
        await self.store.set_meta(_RECORD.format(id=record.id), record.to_json())

    async def get(self, route_id: str) -> RouteRecord | None:
        text = await self.store.get_meta(_RECORD.format(id=route_id))
        return RouteRecord.from_json(text) if text else None

    async def note(self, origin: str, note: Note) -> None:
        """Before the job exists: its status message is found by its origin (the user's message,
        or the interaction), which the job row carries."""
        await self.store.set_meta(_ORIGIN.format(origin=origin), json.dumps(asdict(note)))

    async def note_for(self, origin: str) -> Note | None:
        text = await self.store.get_meta(_ORIGIN.format(origin=origin))
        return Note(**json.loads(text)) if text else None
