"""REST v10 routes: gateway discovery, commands, channel messages, interactions and webhooks, CDN."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord import messages, payloads
from tests.fakes.discord.messages import ApiError, Upload
from tests.fakes.discord.state import Interaction, Message

if TYPE_CHECKING:
    from tests.fakes.discord.emulator import DiscordEmulator

API = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py only parses JSON when Content-Type is *exactly* application/json (no charset).
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error(status: int, code: int, message: str) -> web.Response:
    return json_response({"message": message, "code": code}, status)


async def read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """JSON, or multipart with payload_json + files[n] (how discord.py sends uploads)."""
    if request.content_type == "multipart/form-data":
        payload: Any = {}
        uploads: dict[int, Upload] = {}
        reader = await request.multipart()
        async for part in reader:
            name = part.name or ""  # type: ignore[union-attr]
            raw = await part.read()  # type: ignore[union-attr]
            if name == "payload_json":
                payload = json.loads(raw)
            elif name.startswith("files["):
                index = int(name[6:-1])
                ctype = part.headers.get("Content-Type", "application/octet-stream")  # type: ignore[union-attr]
                uploads[index] = (part.filename or f"file{index}", bytes(raw), ctype)  # type: ignore[union-attr]
        return payload, [uploads[i] for i in sorted(uploads)]
    body = await request.read()
    return (json.loads(body) if body else {}), []


class Rest:
    """The HTTP side of the emulator; handlers run on the emulator loop and share World's lock."""

    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu
        self.world = emu.world

    # -- plumbing ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(API + "/gateway", self.gateway)
        r.add_get(API + "/gateway/bot", self.gateway_bot)
        r.add_get(API + "/users/@me", self.me)
        r.add_post(API + "/users/@me/channels", self.create_dm)
        r.add_get(API + "/users/{uid}", self.get_user)
        r.add_get(API + "/oauth2/applications/@me", self.application)
        r.add_get(API + "/applications/@me", self.application)
        for path in ("/applications/{app}/commands", "/applications/{app}/guilds/{gid}/commands"):
            r.add_get(API + path, self.get_commands)
            r.add_put(API + path, self.put_commands)
        r.add_get(API + "/guilds/{gid}", self.get_guild)
        r.add_get(API + "/guilds/{gid}/channels", self.get_guild_channels)
        r.add_get(API + "/guilds/{gid}/members/{uid}", self.get_member)
        r.add_get(API + "/channels/{cid}", self.get_channel)
        r.add_post(API + "/channels/{cid}/typing", self.typing)
        r.add_get(API + "/channels/{cid}/messages", self.history)
        r.add_post(API + "/channels/{cid}/messages", self.post_message)
        r.add_get(API + "/channels/{cid}/messages/{mid}", self.get_message)
        r.add_patch(API + "/channels/{cid}/messages/{mid}", self.patch_message)
        r.add_delete(API + "/channels/{cid}/messages/{mid}", self.delete_message)
        r.add_post(API + "/channels/{cid}/messages/{mid}/threads", self.start_thread)
        r.add_put(API + "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self.add_reaction)
        r.add_delete(API + "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self.remove_reaction)
        r.add_post(API + "/interactions/{iid}/{token}/callback", self.callback)
        r.add_post(API + "/webhooks/{app}/{token}", self.followup)
        r.add_get(API + "/webhooks/{app}/{token}/messages/{mid}", self.get_webhook_message)
        r.add_patch(API + "/webhooks/{app}/{token}/messages/{mid}", self.patch_webhook_message)
        r.add_delete(API + "/webhooks/{app}/{token}/messages/{mid}", self.delete_webhook_message)
        r.add_get("/cdn/attachments/{cid}/{fid}/{filename}", self.cdn)
        app.middlewares.append(self.middleware)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(API + "/"):
            return await handler(request)
        rel = path[len(API) :]
        with self.world.lock:
            self.world.requests.append((request.method, rel))
        fault = self.world.take_fault(request.method, rel)
        if fault is not None:
            return self._fault(fault.status, fault.retry_after, rel)
        webhookish = rel.startswith(("/webhooks/", "/interactions/"))
        if not webhookish and request.headers.get("Authorization") != f"Bot {self.emu.token}":
            return self._with_ratelimit(error(401, 0, "401: Unauthorized"), request)
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            with self.world.lock:
                self.emu.unknown_routes.append((request.method, rel))
            response = error(404, 0, "404: Not Found")
        except web.HTTPMethodNotAllowed:
            with self.world.lock:
                self.emu.unknown_routes.append((request.method, rel))
            response = error(405, 0, "405: Method Not Allowed")
        except ApiError as exc:
            response = json_response(exc.body(), exc.status)
        return self._with_ratelimit(response, request)

    def _with_ratelimit(self, response: web.StreamResponse, request: web.Request) -> web.StreamResponse:
        # Generous buckets: discord.py never pre-emptively waits, yet its bucket logic is exercised.
        resource = request.match_info.route.resource
        key = f"{request.method} {resource.canonical if resource else request.path}"
        response.headers.update(
            {
                "X-RateLimit-Limit": "50",
                "X-RateLimit-Remaining": "49",
                "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
                "X-RateLimit-Reset-After": "1.000",
                "X-RateLimit-Bucket": hashlib.sha256(key.encode()).hexdigest()[:16],
            }
        )
        return response

    def _fault(self, status: int, retry_after: float, rel: str) -> web.Response:
        if status != 429:
            return error(status, 0, f"{status}: injected failure for {rel}")
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
            "code": 0,
        }
        return json_response(
            body,
            429,
            {
                "Via": "1.1 google",  # without Via, discord.py takes a 429 for a Cloudflare ban
                "Retry-After": str(max(1, round(retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": "injected",
                "X-RateLimit-Scope": "user",
            },
        )

    def _base(self) -> str:
        return self.emu.url

    def _msg_json(self, msg: Message) -> dict[str, Any]:
        with self.world.lock:
            return payloads.message(self.world, self._base(), msg)

    def _dispatch_message(self, event: str, msg: Message) -> None:
        if msg.ephemeral:
            return  # ephemeral messages never reach the gateway
        self.emu.dispatch(event, self._msg_json(msg))

    def _channel(self, request: web.Request) -> int:
        cid = int(request.match_info["cid"])
        if cid not in self.world.channels:
            raise ApiError(404, 10003, "Unknown Channel")
        return cid

    def _message(self, request: web.Request) -> Message:
        cid = self._channel(request)
        msg = self.world.messages.get(int(request.match_info["mid"]))
        if msg is None or msg.channel_id != cid or msg.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    # -- discovery, users, application ------------------------------------------------------

    async def gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.emu.gateway_url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.emu.gateway_url,
                "shards": self.emu.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000 - self.emu.identify_count,
                    "reset_after": 86_400_000,
                    "max_concurrency": self.emu.max_concurrency,
                },
            }
        )

    async def me(self, request: web.Request) -> web.Response:
        with self.world.lock:
            bot = self.world.members[self.world.bot_user_id]
            return json_response({**payloads.user(bot), "verified": True, "mfa_enabled": False, "flags": 0})

    async def get_user(self, request: web.Request) -> web.Response:
        with self.world.lock:
            m = self.world.members.get(int(request.match_info["uid"]))
            if m is None:
                raise ApiError(404, 10013, "Unknown User")
            return json_response(payloads.user(m))

    async def create_dm(self, request: web.Request) -> web.Response:
        payload, _ = await read_body(request)
        cid = self.emu.dm_channel(int(payload["recipient_id"]))
        with self.world.lock:
            return json_response(payloads.channel(self.world, cid))

    async def application(self, request: web.Request) -> web.Response:
        w = self.world
        with w.lock:
            owner = payloads.user(w.members[w.owner_id])
        return json_response(
            {
                "id": str(w.application_id),
                "name": "spotrun",
                "icon": None,
                "description": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": owner,
                "team": None,
                "flags": 0,
                "summary": "",
                "rpc_origins": [],
            }
        )

    # -- commands ---------------------------------------------------------------------------

    def _commands_slot(self, request: web.Request) -> tuple[int | None, list[dict[str, Any]]]:
        if int(request.match_info["app"]) != self.world.application_id:
            raise ApiError(403, 50001, "Missing Access")
        gid = request.match_info.get("gid")
        if gid is None:
            return None, self.world.global_commands
        return int(gid), self.world.guild_commands.setdefault(int(gid), [])

    async def get_commands(self, request: web.Request) -> web.Response:
        with self.world.lock:
            return json_response(copy.deepcopy(self._commands_slot(request)[1]))

    async def put_commands(self, request: web.Request) -> web.Response:
        body, _ = await read_body(request)
        with self.world.lock:
            gid, current = self._commands_slot(request)
            old_ids = {(c["name"], c.get("type", 1)): c["id"] for c in current}
            stored = []
            for cmd in body:
                key = (cmd["name"], cmd.get("type", 1))
                stored.append(
                    {
                        "type": 1,
                        "description": "",
                        "options": [],
                        "default_member_permissions": None,
                        "nsfw": False,
                        "contexts": None,
                        "integration_types": [0],
                        **cmd,
                        "id": old_ids.get(key) or str(self.world.ids.next()),
                        "application_id": str(self.world.application_id),
                        "version": str(self.world.ids.next()),
                        **({"guild_id": str(gid)} if gid is not None else {}),
                    }
                )
            current[:] = stored
            return json_response(copy.deepcopy(stored))

    # -- guild and channels -----------------------------------------------------------------

    def _guild(self, request: web.Request) -> int:
        gid = int(request.match_info["gid"])
        if gid not in self.world.guild_ids():
            raise ApiError(404, 10004, "Unknown Guild")
        return gid

    async def get_guild(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        with self.world.lock:
            g = payloads.guild(self.world, gid)
        for key in ("members", "channels", "threads", "voice_states", "presences"):
            g.pop(key, None)
        return json_response(g)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        with self.world.lock:
            return json_response(payloads.guild(self.world, gid)["channels"])

    async def get_member(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        with self.world.lock:
            m = self.world.members.get(int(request.match_info["uid"]))
            if m is None:
                raise ApiError(404, 10007, "Unknown Member")
            return json_response(payloads.member(self.world, m, guild_id=gid))

    async def get_channel(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        with self.world.lock:
            return json_response(payloads.channel(self.world, cid))

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return web.Response(status=204)

    # -- channel messages -------------------------------------------------------------------

    async def history(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        limit = int(request.query.get("limit", 50))
        with self.world.lock:
            msgs = [m for m in self.world.messages.values() if m.channel_id == cid and not m.deleted]
        return json_response([self._msg_json(m) for m in reversed(msgs[-limit:])])

    async def post_message(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        payload, uploads = await read_body(request)
        existing = messages.dedupe(self.world, cid, payload)
        if existing is not None:
            return json_response(self._msg_json(existing))
        msg = messages.create(self.world, cid, self.world.bot_user_id, payload, uploads)
        messages.remember_nonce(self.world, msg)
        self._dispatch_message("MESSAGE_CREATE", msg)
        return json_response(self._msg_json(msg))

    async def get_message(self, request: web.Request) -> web.Response:
        return json_response(self._msg_json(self._message(request)))

    async def patch_message(self, request: web.Request) -> web.Response:
        msg = self._message(request)
        if msg.author_id != self.world.bot_user_id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        payload, uploads = await read_body(request)
        messages.edit(self.world, msg, payload, uploads)
        self._dispatch_message("MESSAGE_UPDATE", msg)
        return json_response(self._msg_json(msg))

    async def delete_message(self, request: web.Request) -> web.Response:
        msg = self._message(request)
        self._delete(msg)
        return web.Response(status=204)

    def _delete(self, msg: Message) -> None:
        with self.world.lock:
            msg.deleted = True
        if not msg.ephemeral:
            data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            gid = self.world.guild_of(msg.channel_id)
            if gid is not None:
                data["guild_id"] = str(gid)
            self.emu.dispatch("MESSAGE_DELETE", data)

    async def start_thread(self, request: web.Request) -> web.Response:
        """A public thread on a message: like Discord, the thread's id is the message's id, and
        a second thread on the same message is refused (160004)."""
        msg = self._message(request)
        payload, _ = await read_body(request)
        name = str(payload.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise ApiError(400, 50035, "Invalid Form Body: name (1-100 characters)")
        with self.world.lock:
            parent = self.world.channels[msg.channel_id]
            if parent["type"] != 0:
                raise ApiError(400, 50024, "Cannot execute action on this channel type")
            if msg.id in self.world.channels:
                raise ApiError(400, 160004, "A thread has already been created for this message")
            self.world.channels[msg.id] = {
                "name": name,
                "type": 11,
                "parent_id": msg.channel_id,
                "auto_archive_duration": int(payload.get("auto_archive_duration") or 1440),
                "created_at": time.time(),
            }
            data = payloads.channel(self.world, msg.id)
        self.emu.dispatch("THREAD_CREATE", {**data, "newly_created": True})
        return json_response(data)

    async def add_reaction(self, request: web.Request) -> web.Response:
        msg = self._message(request)
        with self.world.lock:
            if request.match_info["emoji"] not in msg.reactions:
                msg.reactions.append(request.match_info["emoji"])
        return web.Response(status=204)

    async def remove_reaction(self, request: web.Request) -> web.Response:
        msg = self._message(request)
        with self.world.lock:
            if request.match_info["emoji"] in msg.reactions:
                msg.reactions.remove(request.match_info["emoji"])
        return web.Response(status=204)

    # -- interactions -----------------------------------------------------------------------

    def _record(self, inter: Interaction, kind: str, payload: dict[str, Any], **extra: Any) -> None:
        with self.world.lock:
            inter.responses.append(
                {
                    "kind": kind,
                    **extra,
                    "payload": copy.deepcopy(payload),
                    "elapsed_s": self.emu.now() - inter.created,
                    "time": time.time(),
                }
            )

    async def callback(self, request: web.Request) -> web.Response:
        inter = self.world.interactions.get(int(request.match_info["iid"]))
        if inter is None or inter.token != request.match_info["token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        payload, uploads = await read_body(request)
        rtype = int(payload.get("type", 0))
        data = payload.get("data") or {}
        late = (
            self.emu.ack_deadline_s is not None and self.emu.now() - inter.created > self.emu.ack_deadline_s
        )
        if late:
            self._record(inter, "callback_rejected", payload, type=rtype, reason="after ack deadline")
            raise ApiError(404, 10062, "Unknown interaction")
        if inter.acked:
            self._record(inter, "callback_rejected", payload, type=rtype, reason="already acknowledged")
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        message: Message | None = None
        if (inter.type == 4) != (rtype == 8):
            # Discord: an autocomplete interaction takes only type 8, and type 8 fits nothing else.
            raise ApiError(400, 40043, "Interaction response type not valid for this interaction")
        if rtype == 8:
            choices = data.get("choices")
            if not isinstance(choices, list) or len(choices) > 25:
                raise ApiError(400, 50035, "Invalid Form Body: choices (at most 25)")
        elif rtype == 4:
            message = messages.create(
                self.world, inter.channel_id, self.world.bot_user_id, data, uploads, interaction_id=inter.id
            )
            inter.original_message_id = message.id
            self._dispatch_message("MESSAGE_CREATE", message)
        elif rtype == 5:
            message = messages.create(
                self.world,
                inter.channel_id,
                self.world.bot_user_id,
                {},
                [],
                interaction_id=inter.id,
                flags=messages.LOADING | int(data.get("flags", 0)),
            )
            inter.original_message_id = message.id
            inter.deferred_loading = True
            self._dispatch_message("MESSAGE_CREATE", message)
        elif rtype in (6, 7):
            if inter.component_message_id is None:
                raise ApiError(400, 40043, "Interaction response type not valid for this interaction")
            inter.original_message_id = inter.component_message_id
            if rtype == 7:
                message = self.world.messages[inter.component_message_id]
                messages.edit(self.world, message, data, uploads)
                self._dispatch_message("MESSAGE_UPDATE", message)
        elif rtype not in (1, 8, 9):
            raise ApiError(400, 50035, f"Invalid interaction response type {rtype}")
        inter.acked = True
        self._record(inter, "callback", payload, type=rtype, message_id=message.id if message else None)
        if "with_response" not in request.query:
            return web.Response(status=204)
        body: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "activity_instance_id": None,
                "response_message_id": str(inter.original_message_id) if inter.original_message_id else None,
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(message and message.ephemeral),
            },
            "resource": {"type": rtype},
        }
        if message is not None:
            body["resource"]["message"] = self._msg_json(message)
        return json_response(body)

    def _webhook_interaction(self, request: web.Request) -> Interaction:
        if int(request.match_info["app"]) != self.world.application_id:
            raise ApiError(404, 10015, "Unknown Webhook")
        iid = self.world.tokens.get(request.match_info["token"])
        if iid is None:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        inter = self.world.interactions[iid]
        if self.emu.now() - inter.created > self.emu.interaction_ttl_s:
            self._record(
                inter, "rejected", {}, reason="token expired", route=f"{request.method} {request.path}"
            )
            raise ApiError(401, 50027, "Invalid Webhook Token")
        if not inter.acked:
            raise ApiError(404, 10015, "Unknown Webhook")
        return inter

    def _webhook_message(self, request: web.Request, inter: Interaction) -> Message:
        mid = request.match_info["mid"]
        ident = inter.original_message_id if mid == "@original" else int(mid)
        msg = self.world.messages.get(ident) if ident is not None else None
        if msg is None or msg.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    async def followup(self, request: web.Request) -> web.Response:
        inter = self._webhook_interaction(request)
        payload, uploads = await read_body(request)
        if inter.deferred_loading and inter.original_message_id is not None:
            # Discord: the first follow-up after a "thinking" defer replaces the placeholder.
            msg = self.world.messages[inter.original_message_id]
            messages.edit(self.world, msg, payload, uploads)
            msg.edits.pop()  # not an edit by the bot: the placeholder simply became this message
            inter.deferred_loading = False
            self._dispatch_message("MESSAGE_UPDATE", msg)
        else:
            msg = messages.create(
                self.world,
                inter.channel_id,
                self.world.bot_user_id,
                payload,
                uploads,
                interaction_id=inter.id,
            )
            self._dispatch_message("MESSAGE_CREATE", msg)
        self._record(inter, "followup", payload, message_id=msg.id)
        if request.query.get("wait") in ("true", "1", "True"):
            return json_response(self._msg_json(msg))
        return web.Response(status=204)

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._webhook_interaction(request)
        return json_response(self._msg_json(self._webhook_message(request, inter)))

    async def patch_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._webhook_interaction(request)
        msg = self._webhook_message(request, inter)
        payload, uploads = await read_body(request)
        messages.edit(self.world, msg, payload, uploads)
        if msg.id == inter.original_message_id:
            inter.deferred_loading = False
        self._record(inter, "edit", payload, message_id=msg.id, target=request.match_info["mid"])
        self._dispatch_message("MESSAGE_UPDATE", msg)
        return json_response(self._msg_json(msg))

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._webhook_interaction(request)
        msg = self._webhook_message(request, inter)
        self._delete(msg)
        if msg.id == inter.original_message_id:
            inter.deferred_loading = False  # the placeholder is gone: a later follow-up is a new message
        self._record(inter, "delete", {}, message_id=msg.id, target=request.match_info["mid"])
        return web.Response(status=204)

    # -- CDN --------------------------------------------------------------------------------

    async def cdn(self, request: web.Request) -> web.Response:
        f = self.world.files.get(int(request.match_info["fid"]))
        if f is None or f.filename != request.match_info["filename"]:
            return web.Response(status=404, text="asset not found")
        return web.Response(body=f.data, headers={"Content-Type": f.content_type})
