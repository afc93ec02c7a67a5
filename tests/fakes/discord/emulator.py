"""DiscordEmulator: REST v10 + gateway on loopback, driven by tests as users and observed as Discord."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from tests.fakes.discord import payloads
from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.messages import create as create_message
from tests.fakes.discord.rest import Rest
from tests.fakes.discord.state import Event, Fault, Interaction, Member, Message, StoredFile, World
from tests.fakes.threaded import ThreadedServer

# option types (Discord API): sub-command/group are not emulated
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11


class DiscordEmulator(ThreadedServer):
    """A loopback Discord for a real discord.py client.

    Tests act as users (user_says, slash, click) and read what the bot did (messages,
    interaction_responses, requests). Every public method is thread-safe: the server runs on its
    own thread and loop, so bots in the test process and bots in subprocesses both work.
    """

    def __init__(
        self,
        token: str = "test-token",  # noqa: S107 - a fake token for a fake server
        application_id: int = 1000,
        bot_user_id: int = 1000,
        *,
        guild_id: int = 2000,
        channel_id: int = 3000,
        bot_name: str = "spotrun-bot",
    ) -> None:
        super().__init__(self._make_app)
        self.token = token
        self.application_id = application_id
        self.bot_user_id = bot_user_id
        self.world = World(
            application_id=application_id, bot_user_id=bot_user_id, guild_id=guild_id, channel_id=channel_id
        )
        self.world.members[bot_user_id].name = bot_name
        self._channel_id = channel_id
        self.interaction_ttl_s: float = 15 * 60
        # Discord drops interactions not acknowledged within 3 s (the bot must defer); None disables.
        self.ack_deadline_s: float | None = 3.0
        self.unknown_routes: list[tuple[str, str]] = []
        # What GET /gateway/bot reports: the shard count Discord recommends, and how many
        # IDENTIFYs may start at once (session_start_limit.max_concurrency).
        self.shard_count = 1
        self.max_concurrency = 1
        self._clock_offset = 0.0
        self.gateway = Gateway(
            self.world, token=lambda: self.token, base_url=self.url, gateway_url=self.gateway_url
        )
        self._rest = Rest(self)

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        self._rest.add_routes(app)
        return app

    def __enter__(self) -> DiscordEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        async def close_sockets() -> None:
            for conn in list(self.gateway.connections):
                await conn.ws.close(code=1001)

        if self._thread is not None and self.loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close_sockets(), self.loop).result(5)
        super().stop()

    # -- addresses and identity -------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def guild_id(self) -> int:
        return self.world.guild_id

    @guild_id.setter
    def guild_id(self, value: int) -> None:
        with self.world.lock:
            self.world.guild_id = value
            self.world.everyone_role_id = value
            self.world.admin_role_id = value + 1

    @property
    def channel_id(self) -> int:
        return self._channel_id

    @channel_id.setter
    def channel_id(self, value: int) -> None:
        with self.world.lock:
            self.world.channels[value] = self.world.channels.pop(self._channel_id)
            self._channel_id = value

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py's REST base and its fallback gateway at the emulator, then restore them.

        DEFAULT_GATEWAY matters too: after an INVALID_SESSION discord.py re-identifies against it.
        """
        import discord.gateway
        import discord.http
        import yarl

        old_base, old_gw = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gw

    # -- clock ------------------------------------------------------------------------------

    def now(self) -> float:
        """Emulator time (monotonic seconds), which advance_time() moves forward."""
        return time.monotonic() + self._clock_offset

    def advance_time(self, seconds: float) -> None:
        """Age interactions without sleeping, e.g. past the 15-minute token lifetime."""
        self._clock_offset += seconds

    # -- world setup ------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event to every session (from any thread; order is preserved)."""
        self.loop.call_soon_threadsafe(self.gateway.dispatch, event, data)

    def add_user(self, user_id: int, name: str, *, admin: bool = False) -> dict[str, Any]:
        """A user who is a member of every guild (one user base; the first guild's payload returned)."""
        with self.world.lock:
            m = self.world.members[user_id] = Member(user_id, name, admin=admin)
            per_guild = {g: payloads.member(self.world, m, guild_id=g) for g in self.world.guild_ids()}
        for gid, data in per_guild.items():
            self.dispatch("GUILD_MEMBER_ADD", {**data, "guild_id": str(gid)})
        return per_guild[self.guild_id]

    @staticmethod
    def guild_id_on_shard(shard_id: int, shard_count: int, n: int = 0) -> int:
        """A guild id Discord would route to `shard_id` of `shard_count` ((id >> 22) % count)."""
        return ((1000 + n) * shard_count + shard_id) << 22 | 1

    def add_guild(self, guild_id: int, channel_id: int, name: str | None = None) -> int:
        """The bot joins another guild with one text channel; its events go to its shard only.
        Returns the channel id (pass it to user_says(channel_id=...))."""
        with self.world.lock:
            self.world.extra_guilds[guild_id] = name or f"Guild {guild_id}"
            self.world.channels[channel_id] = {"name": "general", "type": 0, "guild_id": guild_id}
        self.loop.call_soon_threadsafe(self.gateway.guild_joined, guild_id)
        return channel_id

    def add_channel(self, channel_id: int, name: str) -> int:
        with self.world.lock:
            self.world.channels[channel_id] = {"name": name, "type": 0}
            data = payloads.channel(self.world, channel_id)
        self.dispatch("CHANNEL_CREATE", data)
        return channel_id

    def dm_channel(self, user_id: int) -> int:
        """The DM channel between the bot and a user (created on first use, as Discord does)."""
        with self.world.lock:
            if user_id not in self.world.dm_channels:
                cid = self.world.ids.next()
                self.world.channels[cid] = {"name": None, "type": 1, "recipient_id": user_id}
                self.world.dm_channels[user_id] = cid
            return self.world.dm_channels[user_id]

    def _member(self, user_id: int) -> Member:
        try:
            return self.world.members[user_id]
        except KeyError:
            raise ValueError(f"unknown user {user_id}: call emu.add_user() first") from None

    # -- user actions -----------------------------------------------------------------------

    def user_says(
        self,
        user_id: int,
        content: str,
        *,
        channel_id: int | None = None,
        attachments: list[tuple[str, bytes, str]] | tuple[()] = (),
        reply_to: int | None = None,
        ping: bool = True,
    ) -> int:
        """A user posts a message (MESSAGE_CREATE); returns its id at once. `reply_to`: a reply to
        that message, which (as Discord's client does by default, `ping`) mentions its author."""
        self._member(user_id)
        cid = channel_id or self.channel_id
        payload: dict[str, Any] = {
            "content": content,
            "attachments": [{"id": i} for i in range(len(attachments))],
        }
        if reply_to is not None:
            payload["message_reference"] = {"message_id": str(reply_to), "channel_id": str(cid)}
        msg = create_message(self.world, cid, user_id, payload, list(attachments))
        with self.world.lock:
            data = payloads.message(self.world, self.url, msg)
            if reply_to is not None:
                referenced = self.world.messages[reply_to]
                data["referenced_message"] = payloads.message(self.world, self.url, referenced)
                author = payloads.user(self.world.members[referenced.author_id])
                if ping and all(u["id"] != author["id"] for u in data["mentions"]):
                    data["mentions"].append(author)
        self.dispatch("MESSAGE_CREATE", data)
        return msg.id

    def _new_interaction(
        self,
        type_: int,
        user_id: int,
        channel_id: int | None,
        data: dict[str, Any],
        message: Message | None = None,
    ) -> int:
        self._member(user_id)
        cid = channel_id or self.channel_id
        with self.world.lock:
            inter = Interaction(
                id=self.world.ids.next(),
                type=type_,
                user_id=user_id,
                channel_id=cid,
                created=self.now(),
                component_message_id=message.id if message else None,
            )
            self.world.interactions[inter.id] = inter
            self.world.tokens[inter.token] = inter.id
            event = payloads.interaction(
                self.world,
                self.url,
                inter_id=inter.id,
                token=inter.token,
                type_=type_,
                user_id=user_id,
                channel_id=cid,
                data=data,
                message_obj=message,
            )
        self.dispatch("INTERACTION_CREATE", event)
        return inter.id

    def slash(
        self,
        user_id: int,
        name: str,
        options: dict[str, object] | None = None,
        *,
        channel_id: int | None = None,
        attachments: dict[str, tuple[str, bytes, str]] | None = None,
        enforce_permissions: bool = True,
    ) -> int:
        """A user runs /name (INTERACTION_CREATE type 2), typed by the command the bot synced.
        Like Discord's client, it refuses a command whose default_member_permissions the member
        lacks (`enforce_permissions=False`: a server that widened it in Integrations)."""
        cmd, guild_id = self.world.find_command(name)
        needed = int(cmd.get("default_member_permissions") or 0)
        if enforce_permissions and needed:
            held = int(payloads.permissions_of(self._member(user_id)))
            if held & needed != needed:
                raise PermissionError(f"/{name} needs permissions {needed}; user {user_id} lacks them")
        cid = channel_id or self.channel_id
        given: dict[str, object] = {**(options or {}), **(attachments or {})}
        defs = {o["name"]: o for o in cmd.get("options", [])}
        unknown = set(given) - set(defs)
        if unknown:
            raise ValueError(f"/{name} has no option(s) {sorted(unknown)}; it has {sorted(defs)}")
        missing = [n for n, o in defs.items() if o.get("required") and n not in given]
        if missing:
            raise ValueError(f"/{name} requires option(s) {missing}")
        for opt_name, value in given.items():
            _check_option(name, defs[opt_name], value)
        resolved: dict[str, dict[str, Any]] = {}
        opts = []
        with self.world.lock:
            for opt_name, value in given.items():
                otype = defs[opt_name]["type"]
                opts.append(
                    {
                        "name": opt_name,
                        "type": otype,
                        "value": self._option_value(otype, value, cid, resolved),
                    }
                )
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": cmd.get("type", 1), "options": opts}
        if resolved:
            data["resolved"] = resolved
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return self._new_interaction(2, user_id, channel_id, data)

    def autocomplete(
        self,
        user_id: int,
        name: str,
        focused: str,
        typed: str = "",
        *,
        subcommand: str | None = None,
        channel_id: int | None = None,
    ) -> int:
        """A user types into an option declared with autocomplete (INTERACTION_CREATE type 4);
        the bot answers with choices (callback type 8): read them with `autocomplete_choices`."""
        cmd, guild_id = self.world.find_command(name)
        defs = {o["name"]: o for o in cmd.get("options", [])}
        if subcommand is not None:
            group = defs.get(subcommand)
            if group is None or group["type"] != 1:
                raise ValueError(f"/{name} has no subcommand {subcommand!r}")
            defs = {o["name"]: o for o in group.get("options", [])}
        opt = defs.get(focused)
        if opt is None or not opt.get("autocomplete"):
            raise ValueError(f"/{name} {focused}: Discord autocompletes only options declared with it")
        opts: list[dict[str, Any]] = [{"name": focused, "type": opt["type"], "value": typed, "focused": True}]
        if subcommand is not None:
            opts = [{"name": subcommand, "type": 1, "options": opts}]
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": cmd.get("type", 1), "options": opts}
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return self._new_interaction(4, user_id, channel_id, data)

    async def autocomplete_choices(self, interaction_id: int, timeout: float = 5) -> list[dict[str, Any]]:  # noqa: ASYNC109 - public API
        """The choices the bot offered for an autocomplete interaction (waits for its answer)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for response in self.interaction_responses(interaction_id):
                if response.get("type") == 8:
                    return list(response["payload"]["data"]["choices"])
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no autocomplete answer for interaction {interaction_id}")

    def _option_value(
        self, otype: int, value: object, channel_id: int, resolved: dict[str, dict[str, Any]]
    ) -> Any:
        w = self.world
        if otype == ATTACHMENT:
            if not (isinstance(value, tuple) and len(value) == 3):
                raise ValueError("attachment options take (filename, bytes, content_type)")
            filename, data, ctype = value
            f = StoredFile(w.ids.next(), filename, data, ctype, channel_id)
            w.files[f.id] = f
            resolved.setdefault("attachments", {})[str(f.id)] = payloads.attachment(self.url, f)
            return str(f.id)
        if otype in (USER, MENTIONABLE):
            m = self._member(int(value))  # type: ignore[call-overload]
            resolved.setdefault("users", {})[str(m.user_id)] = payloads.user(m)
            resolved.setdefault("members", {})[str(m.user_id)] = {
                **payloads.member(w, m, with_user=False),
                "permissions": payloads.permissions_of(m),
            }
            return str(m.user_id)
        if otype == CHANNEL:
            ch = payloads.channel(w, int(value))  # type: ignore[call-overload]
            resolved.setdefault("channels", {})[ch["id"]] = {
                **ch,
                "permissions": str(payloads.ALL_PERMISSIONS),
            }
            return ch["id"]
        if otype == ROLE:
            role = next(r for r in payloads.roles(w) if r["id"] == str(value))
            resolved.setdefault("roles", {})[role["id"]] = role
            return role["id"]
        return value

    def click(
        self,
        user_id: int,
        message_id: int,
        custom_id: str,
        *,
        channel_id: int | None = None,
        values: list[str] | None = None,
    ) -> int:
        """A user presses a button (or picks `values` in a select) on a bot message (type 3)."""
        with self.world.lock:
            msg = self.world.messages.get(message_id)
            if msg is None:
                raise ValueError(f"unknown message {message_id}")
            component = _find_component(msg.components, custom_id)
            if component is None:
                raise ValueError(f"message {message_id} has no component {custom_id!r}: {msg.components}")
            msg = copy.deepcopy(msg)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] != 2:
            data["values"] = list(values or [])
        return self._new_interaction(3, user_id, channel_id or msg.channel_id, data, message=msg)

    # -- failure injection ------------------------------------------------------------------

    def rate_limit_next(self, route_substring: str, retry_after: float = 0.2) -> None:
        """The next REST request whose 'METHOD /path' contains the substring answers 429."""
        with self.world.lock:
            self.world.faults.append(Fault(route_substring, 429, retry_after))

    def fail_next(self, route_substring: str, status: int = 500) -> None:
        with self.world.lock:
            self.world.faults.append(Fault(route_substring, status))

    def disconnect_all(self, code: int = 4000) -> None:
        """Close every gateway websocket; sessions stay resumable, as after a network blip."""
        self.loop.call_soon_threadsafe(self.gateway.close_all, code)

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT to every session (what Discord does before moving a shard)."""
        self.loop.call_soon_threadsafe(self.gateway.reconnect_all)

    # -- observations -----------------------------------------------------------------------

    def messages(self, channel_id: int | None = None) -> list[Message]:
        """Snapshots of the bot's messages (interaction responses included), oldest first."""
        with self.world.lock:
            return [
                copy.deepcopy(m)
                for m in self.world.messages.values()
                if m.author_id == self.bot_user_id and (channel_id is None or m.channel_id == channel_id)
            ]

    def interaction_responses(self, interaction_id: int) -> list[dict[str, Any]]:
        """What the bot did with an interaction: {kind, type?, payload, message_id?, elapsed_s, time}."""
        with self.world.lock:
            return copy.deepcopy(self.world.interactions[interaction_id].responses)

    def interaction_token(self, interaction_id: int) -> str:
        """The token the bot received, e.g. to drive discord.Webhook.partial() like a restarted bot."""
        with self.world.lock:
            return self.world.interactions[interaction_id].token

    @property
    def identify_count(self) -> int:
        return self.gateway.identify_count

    @property
    def resume_count(self) -> int:
        return self.gateway.resume_count

    @property
    def sessions(self) -> int:
        with self.world.lock:
            return self.gateway.connected_sessions()

    def identifies_on(self, shard_id: int) -> int:
        """IDENTIFYs received for one shard id (Discord allows ~1000 a day in all)."""
        with self.world.lock:
            return self.gateway.identifies[shard_id]

    def sessions_on(self, shard_id: int) -> int:
        """READY gateway sessions connected for one shard right now (two: events handled twice)."""
        with self.world.lock:
            return self.gateway.sessions_on(shard_id)

    def presence(self, shard_id: int) -> list[tuple[float, int]]:
        """(time.monotonic(), connected READY sessions) after every change on a shard."""
        with self.world.lock:
            return list(self.gateway.presence.get(shard_id, []))

    def presence_gap(self, shard_id: int, since: float, until: float | None = None) -> float:
        """The longest time within [since, until] during which the shard had no READY session."""
        until = time.monotonic() if until is None else until
        points = self.presence(shard_id)
        count = 0
        for at, n in points:
            if at <= since:
                count = n
        longest, down_from = 0.0, (since if count == 0 else None)
        for at, n in points:
            if at <= since or at > until:
                continue
            if n == 0 and down_from is None:
                down_from = at
            elif n > 0 and down_from is not None:
                longest, down_from = max(longest, at - down_from), None
        if down_from is not None:
            longest = max(longest, until - down_from)
        return longest

    def overlap_s(self, shard_id: int, since: float = 0.0) -> float:
        """How long since `since` the shard had two or more READY sessions (events went to both)."""
        total, began = 0.0, None
        for at, n in self.presence(shard_id):
            if at < since:
                continue
            if n >= 2 and began is None:
                began = at
            elif n < 2 and began is not None:
                total, began = total + at - began, None
        return total + (time.monotonic() - began if began is not None else 0.0)

    def max_sessions_on(self, shard_id: int, since: float = 0.0) -> int:
        """The most READY sessions one shard had at once since `since` (monotonic)."""
        return max((n for at, n in self.presence(shard_id) if at >= since), default=0)

    @property
    def synced_commands(self) -> list[dict[str, Any]]:
        with self.world.lock:
            cmds = list(self.world.global_commands)
            for guild_cmds in self.world.guild_commands.values():
                cmds.extend(guild_cmds)
            return copy.deepcopy(cmds)

    def timeline(self) -> list[Event]:
        """Every message creation and edit, in the order the emulator applied them."""
        with self.world.lock:
            return list(self.world.timeline)

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self.world.lock:
            return list(self.world.requests)

    async def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 10) -> Message:  # noqa: ASYNC109 - public API
        """The first bot message (current state, edits applied) matching predicate; polls."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.messages()
            for msg in seen:
                if predicate(msg):
                    return msg
            if time.monotonic() >= deadline:
                dump = "\n".join(
                    f"  #{m.id} ch={m.channel_id} edits={len(m.edits)} deleted={m.deleted}: "
                    f"{m.text()[:200]!r} files={[a[0] for a in m.attachments]}"
                    for m in seen
                )
                raise TimeoutError(
                    f"no matching bot message within {timeout}s; seen {len(seen)}:\n{dump}\n"
                    f"unknown routes: {self.unknown_routes}"
                )
            await asyncio.sleep(0.02)

    async def wait_for_ready(self, timeout: float = 10) -> None:  # noqa: ASYNC109 - public API
        """A gateway session has IDENTIFYed and been sent READY + GUILD_CREATE."""
        deadline = time.monotonic() + timeout
        while self.sessions == 0:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"no READY gateway session within {timeout}s (identifies: "
                    f"{self.identify_count}, requests: {self.requests[-10:]})"
                )
            await asyncio.sleep(0.02)


_PY_TYPES: dict[int, tuple[type, ...]] = {
    STRING: (str,),
    INTEGER: (int,),
    NUMBER: (int, float),
    BOOLEAN: (bool,),
}


def _check_option(command: str, opt: dict[str, Any], value: object) -> None:
    """What Discord's client enforces before a slash command is sent: the option's type, its
    choices, its range and its length. A value it would not let through raises here."""
    otype, where = opt["type"], f"/{command} {opt['name']}:"
    wanted = _PY_TYPES.get(otype)
    # bool is an int in Python; Discord keeps them apart.
    is_bool = isinstance(value, bool)
    mistyped = wanted is not None and (is_bool != (otype == BOOLEAN) or not isinstance(value, wanted))
    if mistyped:
        raise ValueError(f"{where} expects option type {otype}, got {value!r}")
    choices = opt.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"{where} {value!r} is not one of its choices {[c['value'] for c in choices]}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "min_value" in opt and value < opt["min_value"]:
            raise ValueError(f"{where} {value} is below min_value {opt['min_value']}")
        if "max_value" in opt and value > opt["max_value"]:
            raise ValueError(f"{where} {value} is above max_value {opt['max_value']}")
    if isinstance(value, str):
        if "min_length" in opt and len(value) < opt["min_length"]:
            raise ValueError(f"{where} shorter than min_length {opt['min_length']}")
        if "max_length" in opt and len(value) > opt["max_length"]:
            raise ValueError(f"{where} longer than max_length {opt['max_length']}")


def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for comp in components:
        if comp.get("custom_id") == custom_id:
            return comp
        found = _find_component(comp.get("components", []) or [], custom_id)
        if found is not None:
            return found
    return None
