"""The gateway websocket: HELLO/IDENTIFY/RESUME/heartbeats and ordered, resumable event dispatch."""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord import payloads
from tests.fakes.discord.state import World

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_RESUME = 0, 1, 2, 3, 6
OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 7, 8, 9, 10, 11

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

_CLOSE = object()


@dataclass(eq=False)
class Connection:
    """One websocket; a single writer task keeps frames in dispatch order."""

    ws: web.WebSocketResponse
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    session: Session | None = None

    def send(self, frame: dict[str, Any]) -> None:
        self.queue.put_nowait(frame)

    def close(self, code: int) -> None:
        self.queue.put_nowait((_CLOSE, code))

    async def writer(self) -> None:
        while True:
            item = await self.queue.get()
            if isinstance(item, tuple) and item[0] is _CLOSE:
                await self.ws.close(code=item[1])
                return
            if self.ws.closed:
                return
            await self.ws.send_str(json.dumps(item))


@dataclass(eq=False)
class Session:
    """A gateway session: survives its websocket so RESUME can replay what was missed."""

    id: str
    intents: int
    shard: list[int]
    seq: int = 0
    conn: Connection | None = None
    ready_sent: bool = False
    buffer: collections.deque[dict[str, Any]] = field(default_factory=lambda: collections.deque(maxlen=1000))

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data}
        self.buffer.append(frame)
        if self.conn is not None:
            self.conn.send(frame)

    def on_shard(self, data: dict[str, Any]) -> bool:
        """Discord sends a guild's events to shard (guild_id >> 22) % shard_count, the rest (DMs)
        to shard 0 only."""
        shard_id, shard_count = self.shard
        guild_id = data.get("guild_id")
        if guild_id is None:
            return shard_id == 0
        return (int(guild_id) >> 22) % shard_count == shard_id

    def wants(self, event: str, data: dict[str, Any]) -> bool:
        if not self.on_shard(data):
            return False
        if event.startswith("MESSAGE_"):
            needed = INTENT_GUILD_MESSAGES if "guild_id" in data else INTENT_DIRECT_MESSAGES
            return bool(self.intents & needed)
        if event.startswith("GUILD_MEMBER"):
            return bool(self.intents & INTENT_GUILD_MEMBERS)
        return True


class Gateway:
    """All gateway sessions of the emulator; every method runs on the emulator's loop."""

    def __init__(self, world: World, *, token: Callable[[], str], base_url: str, gateway_url: str) -> None:
        self.world = world
        self._token = token
        self.base_url = base_url
        self.gateway_url = gateway_url
        self.heartbeat_interval_ms = 41250
        self.identify_count = 0
        self.resume_count = 0
        # Per shard id: IDENTIFYs received, and (monotonic time, connected READY sessions) after
        # every change, so tests can see overlaps (two sessions on one shard) and presence gaps.
        self.identifies: collections.Counter[int] = collections.Counter()
        self.presence: dict[int, list[tuple[float, int]]] = {}
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()

    # -- dispatch ---------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        with self.world.lock:
            for session in self.sessions.values():
                if session.ready_sent and session.wants(event, data):
                    session.dispatch(event, self._for_session(session, event, data))

    def _for_session(self, session: Session, event: str, data: dict[str, Any]) -> dict[str, Any]:
        # Without the privileged MESSAGE_CONTENT intent Discord blanks other users' guild messages
        # unless they mention the bot -- the classic "my prefix commands never fire" trap.
        if (
            not event.startswith("MESSAGE_")
            or session.intents & INTENT_MESSAGE_CONTENT
            or "guild_id" not in data
        ):
            return data
        author = (data.get("author") or {}).get("id")
        mentioned = any(u["id"] == str(self.world.bot_user_id) for u in data.get("mentions", []))
        if author == str(self.world.bot_user_id) or mentioned:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    def connected_sessions(self) -> int:
        return sum(1 for s in self.sessions.values() if s.conn is not None and s.ready_sent)

    def sessions_on(self, shard_id: int) -> int:
        return sum(
            1
            for s in self.sessions.values()
            if s.conn is not None and s.ready_sent and s.shard[0] == shard_id
        )

    def _presence_changed(self, shard_id: int) -> None:
        self.presence.setdefault(shard_id, []).append((time.monotonic(), self.sessions_on(shard_id)))

    def guild_joined(self, guild_id: int) -> None:
        """GUILD_CREATE for a guild the bot was just added to, on the shard that guild maps to."""
        with self.world.lock:
            data = payloads.guild(self.world, guild_id)
            for session in self.sessions.values():
                wanted = session.ready_sent and session.intents & INTENT_GUILDS
                if wanted and session.on_shard({"guild_id": guild_id}):
                    session.dispatch("GUILD_CREATE", data)

    def close_all(self, code: int) -> None:
        for conn in list(self.connections):
            conn.close(code)

    def reconnect_all(self) -> None:
        for conn in list(self.connections):
            conn.send({"op": OP_RECONNECT, "d": None})

    # -- websocket --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws)
        self.connections.add(conn)
        writer = asyncio.create_task(conn.writer())
        conn.send(
            {"op": OP_HELLO, "s": None, "t": None, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
        )
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                with self.world.lock:  # the test thread reads sessions (emu.sessions)
                    self._on_frame(conn, frame.get("op"), frame.get("d"))
        finally:
            with self.world.lock:
                self.connections.discard(conn)
                if conn.session is not None and conn.session.conn is conn:
                    conn.session.conn = None
                    if conn.session.ready_sent:
                        self._presence_changed(conn.session.shard[0])
            # Let queued frames (e.g. a close) drain before the writer goes away.
            await asyncio.sleep(0)
            writer.cancel()
        return ws

    def _on_frame(self, conn: Connection, op: int | None, d: Any) -> None:
        if op == OP_HEARTBEAT:
            conn.send({"op": OP_HEARTBEAT_ACK, "d": None})
        elif op == OP_IDENTIFY:
            self._identify(conn, d)
        elif op == OP_RESUME:
            self._resume(conn, d)
        elif op == OP_REQUEST_MEMBERS and conn.session is not None:
            self._members_chunk(conn.session, d)
        # op 3 (presence) and others need no answer

    def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self._token():
            conn.close(4004)  # Authentication failed
            return
        self.identify_count += 1
        shard = d.get("shard") or [0, 1]
        self.identifies[shard[0]] += 1
        session = Session(id=secrets.token_hex(16), intents=int(d.get("intents", 0)), shard=shard)
        self.sessions[session.id] = session
        session.conn = conn
        conn.session = session
        world = self.world
        shard_id, shard_count = shard
        with world.lock:
            bot = world.members[world.bot_user_id]
            mine = [g for g in world.guild_ids() if (g >> 22) % shard_count == shard_id]
            ready = {
                "v": 10,
                "user": {
                    **payloads.user(bot),
                    "bot": True,
                    "verified": True,
                    "mfa_enabled": False,
                    "flags": 0,
                },
                "guilds": [{"id": str(g), "unavailable": True} for g in mine],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(world.application_id), "flags": 0},
                "shard": shard,
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "auth": {},
                "_trace": ["spotrun-discord-emulator"],
            }
            guilds = [payloads.guild(world, g) for g in mine]
        session.dispatch("READY", ready)
        if session.intents & INTENT_GUILDS:
            for guild in guilds:
                session.dispatch("GUILD_CREATE", guild)
        session.ready_sent = True
        self._presence_changed(shard_id)

    def _resume(self, conn: Connection, d: dict[str, Any]) -> None:
        session = self.sessions.get(d.get("session_id", ""))
        if d.get("token") != self._token():
            conn.close(4004)
            return
        if session is None:
            # discord.py then re-identifies -- against DiscordWebSocket.DEFAULT_GATEWAY (patch it too).
            conn.send({"op": OP_INVALID_SESSION, "d": False})
            return
        self.resume_count += 1
        if session.conn is not None and session.conn is not conn:
            session.conn.close(4000)
        session.conn = conn
        if session.ready_sent:
            self._presence_changed(session.shard[0])
        conn.session = session
        last = d.get("seq") or 0
        for frame in list(session.buffer):
            if frame["s"] > last:
                conn.send(frame)
        session.dispatch("RESUMED", {"_trace": ["spotrun-discord-emulator"]})

    def _members_chunk(self, session: Session, d: dict[str, Any]) -> None:
        world = self.world
        guild_id = int(d.get("guild_id") or world.guild_id)
        with world.lock:
            members = [payloads.member(world, m, guild_id=guild_id) for m in world.members.values()]
        chunk = {
            "guild_id": str(guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
