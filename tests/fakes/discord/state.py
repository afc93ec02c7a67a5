"""The emulator's in-memory world: guild, users, messages, synced commands and interactions."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000


class Snowflakes:
    """Real-looking snowflakes, so discord.py's created_at on emulated objects is 'now'."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(self._counter) & 0x3FFFFF)


@dataclass
class StoredFile:
    """An uploaded attachment; served back at `url` so Attachment.read() works."""

    id: int
    filename: str
    data: bytes
    content_type: str
    channel_id: int

    def as_tuple(self) -> tuple[str, bytes, str]:
        return (self.filename, self.data, self.content_type)


@dataclass
class Message:
    """A message in a channel as the emulator stores it; tests read the bot's ones."""

    id: int
    channel_id: int
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    files: list[StoredFile] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    nonce: str | None = None
    message_reference: dict[str, Any] | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    interaction_id: int | None = None
    deleted: bool = False
    flags: int = 0
    reactions: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    edited_at: float | None = None

    @property
    def attachments(self) -> list[tuple[str, bytes, str]]:
        return [f.as_tuple() for f in self.files]

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & 64)

    def text(self) -> str:
        """Everything a user reads: content plus embed titles, descriptions, fields and footers."""
        parts = [self.content] if self.content else []
        for embed in self.embeds:
            for key in ("title", "description"):
                if embed.get(key):
                    parts.append(str(embed[key]))
            for fld in embed.get("fields", []):
                parts.append(f"{fld.get('name', '')}: {fld.get('value', '')}")
            if (embed.get("footer") or {}).get("text"):
                parts.append(embed["footer"]["text"])
        return "\n".join(parts)


@dataclass
class Interaction:
    """One INTERACTION_CREATE and what the bot did with it (callbacks, follow-ups, edits)."""

    id: int
    type: int
    user_id: int
    channel_id: int
    created: float  # emulator clock (monotonic + offset)
    token: str = field(default_factory=lambda: "tok_" + secrets.token_urlsafe(24))
    component_message_id: int | None = None
    original_message_id: int | None = None
    acked: bool = False
    deferred_loading: bool = False  # a type-5 defer whose placeholder the first follow-up replaces
    responses: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    """One message created or edited, in the order Discord applied it (the user's view over time)."""

    at: float  # wall clock, comparable with the bot's time.time() stamps in its store
    kind: str  # "create" | "edit"
    message_id: int
    text: str  # the message's text() after this event


@dataclass
class Member:
    user_id: int
    name: str
    admin: bool = False
    bot: bool = False
    joined_at: float = field(default_factory=time.time)


@dataclass
class Fault:
    """An injected failure for the next REST request whose 'METHOD /path' contains `match`."""

    match: str
    status: int
    retry_after: float = 0.0


class World:
    """All mutable emulator state, guarded by one lock (REST, gateway and test threads share it)."""

    def __init__(self, *, application_id: int, bot_user_id: int, guild_id: int, channel_id: int) -> None:
        self.lock = threading.RLock()
        self.ids = Snowflakes()
        self.application_id = application_id
        self.bot_user_id = bot_user_id
        self.guild_id = guild_id
        self.guild_name = "Test Guild"
        self.owner_id = bot_user_id
        self.everyone_role_id = guild_id  # Discord's @everyone role shares the guild's id
        self.admin_role_id = guild_id + 1
        # channel id -> (name, type); type 0 = guild text, 1 = DM
        self.channels: dict[int, dict[str, Any]] = {channel_id: {"name": "general", "type": 0}}
        self.members: dict[int, Member] = {
            bot_user_id: Member(bot_user_id, "spotrun-bot", admin=True, bot=True)
        }
        self.messages: dict[int, Message] = {}
        self.files: dict[int, StoredFile] = {}
        self.nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.interactions: dict[int, Interaction] = {}
        self.tokens: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.timeline: list[Event] = []
        self.faults: list[Fault] = []
        self.dm_channels: dict[int, int] = {}
        # More guilds beyond the first (emu.add_guild): id -> name. Each has its own channels
        # (channels[cid]["guild_id"]); members are shared, as one user base in every guild.
        self.extra_guilds: dict[int, str] = {}

    def guild_ids(self) -> list[int]:
        return [self.guild_id, *self.extra_guilds]

    def guild_of(self, channel_id: int) -> int | None:
        """The guild a channel belongs to; None for a DM."""
        info = self.channels.get(channel_id, {"type": 0})
        if info["type"] == 1:
            return None
        return int(info.get("guild_id", self.guild_id))

    def role_ids(self, guild_id: int) -> tuple[int, int]:
        """(@everyone, Admin) role ids of a guild: @everyone shares the guild's id, as in Discord."""
        if guild_id == self.guild_id:
            return self.everyone_role_id, self.admin_role_id
        return guild_id, guild_id + 1

    def take_fault(self, method: str, path: str) -> Fault | None:
        key = f"{method} {path}"
        with self.lock:
            for fault in self.faults:
                if fault.match in key:
                    self.faults.remove(fault)
                    return fault
        return None

    def find_command(self, name: str) -> tuple[dict[str, Any], int | None]:
        """A synced command by name: guild commands win, as in Discord's client; (cmd, guild_id or None)."""
        with self.lock:
            for cmd in self.guild_commands.get(self.guild_id, []):
                if cmd["name"] == name:
                    return cmd, self.guild_id
            for cmd in self.global_commands:
                if cmd["name"] == name:
                    return cmd, None
            synced = [c["name"] for c in self.global_commands] + [
                c["name"] for c in self.guild_commands.get(self.guild_id, [])
            ]
        raise ValueError(f"no synced command named {name!r}; synced: {synced}")
