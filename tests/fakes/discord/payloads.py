"""Discord API v10 JSON shapes built from the emulator's world (what discord.py parses)."""

from __future__ import annotations

import datetime
import re
from typing import Any

from tests.fakes.discord.state import Member, Message, StoredFile, World

# Real Discord sends an administrator's computed permissions with every bit set; discord.py's
# has_permissions checks bits one by one (no administrator shortcut), so admins need them all.
ALL_PERMISSIONS = (1 << 53) - 1
ADMINISTRATOR = 1 << 3
# @everyone in a fresh guild: view, send, embed, attach, history, reactions, app commands...
EVERYONE_PERMISSIONS = 277096025153

_MENTION = re.compile(r"<@!?(\d+)>")


def iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


def user(member: Member) -> dict[str, Any]:
    return {
        "id": str(member.user_id),
        "username": member.name,
        "global_name": member.name,
        "discriminator": "0",
        "avatar": None,
        "bot": member.bot,
        "public_flags": 0,
    }


def member(world: World, m: Member, *, with_user: bool = True, guild_id: int | None = None) -> dict[str, Any]:
    admin_role = world.role_ids(guild_id if guild_id is not None else world.guild_id)[1]
    data: dict[str, Any] = {
        "roles": [str(admin_role)] if m.admin else [],
        "nick": None,
        "avatar": None,
        "joined_at": iso(m.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user(m)
    return data


def permissions_of(m: Member) -> str:
    return str(ALL_PERMISSIONS if m.admin else EVERYONE_PERMISSIONS)


def roles(world: World, guild_id: int | None = None) -> list[dict[str, Any]]:
    def role(role_id: int, name: str, perms: int, position: int) -> dict[str, Any]:
        return {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(perms),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    everyone, admin = world.role_ids(guild_id if guild_id is not None else world.guild_id)
    return [
        role(everyone, "@everyone", EVERYONE_PERMISSIONS, 0),
        role(admin, "Admin", ADMINISTRATOR, 1),
    ]


def channel(world: World, channel_id: int) -> dict[str, Any]:
    info = world.channels[channel_id]
    if info["type"] == 1:
        recipient = world.members[info["recipient_id"]]
        return {"id": str(channel_id), "type": 1, "last_message_id": None, "recipients": [user(recipient)]}
    return {
        "id": str(channel_id),
        "type": info["type"],
        "guild_id": str(world.guild_of(channel_id)),
        "name": info["name"],
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": str(info["parent_id"]) if info.get("parent_id") else None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
        **(_thread_fields(world, info) if info["type"] == 11 else {}),
    }


def _thread_fields(world: World, info: dict[str, Any]) -> dict[str, Any]:
    """What a public thread (type 11) carries beyond a channel: its owner and metadata."""
    return {
        "owner_id": str(world.bot_user_id),
        "message_count": 0,
        "member_count": 1,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": info.get("auto_archive_duration", 1440),
            "archive_timestamp": iso(info.get("created_at", 0.0)),
            "locked": False,
        },
    }


def guild(world: World, guild_id: int | None = None) -> dict[str, Any]:
    """The full GUILD_CREATE payload discord.py needs to cache the guild, its channels and members."""
    gid = world.guild_id if guild_id is None else guild_id
    return {
        "id": str(gid),
        "name": world.guild_name if gid == world.guild_id else world.extra_guilds[gid],
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(world.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": roles(world, gid),
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "max_members": 500000,
        "joined_at": iso(world.members[world.bot_user_id].joined_at),
        "large": False,
        "unavailable": False,
        "member_count": len(world.members),
        "voice_states": [],
        "members": [member(world, m, guild_id=gid) for m in world.members.values()],
        "channels": [
            channel(world, c)
            for c, info in world.channels.items()
            if world.guild_of(c) == gid and info["type"] not in (1, 11)
        ],
        "threads": [
            channel(world, c)
            for c, info in world.channels.items()
            if world.guild_of(c) == gid and info["type"] == 11
        ],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def attachment(base_url: str, f: StoredFile) -> dict[str, Any]:
    url = f"{base_url}/cdn/attachments/{f.channel_id}/{f.id}/{f.filename}"
    return {
        "id": str(f.id),
        "filename": f.filename,
        "size": len(f.data),
        "url": url,
        "proxy_url": url,
        "content_type": f.content_type,
    }


def mentions(world: World, content: str) -> list[dict[str, Any]]:
    ids = {int(x) for x in _MENTION.findall(content)}
    return [user(world.members[i]) for i in ids if i in world.members]


def message(world: World, base_url: str, msg: Message) -> dict[str, Any]:
    """A full message object (as REST returns it and MESSAGE_CREATE carries it)."""
    author = world.members[msg.author_id]
    info = world.channels.get(msg.channel_id, {"type": 0})
    data: dict[str, Any] = {
        "id": str(msg.id),
        "channel_id": str(msg.channel_id),
        "type": 19 if msg.message_reference else 0,
        "author": user(author),
        "content": msg.content,
        "timestamp": iso(msg.created_at),
        "edited_timestamp": iso(msg.edited_at) if msg.edited_at else None,
        "tts": False,
        "mention_everyone": False,
        "mentions": mentions(world, msg.content),
        "mention_roles": [],
        "attachments": [attachment(base_url, f) for f in msg.files],
        "embeds": msg.embeds,
        "components": msg.components,
        "pinned": False,
        "flags": msg.flags,
        "reactions": [
            {"count": 1, "me": True, "emoji": {"id": None, "name": e}, "burst_colors": []}
            for e in msg.reactions
        ],
    }
    if msg.nonce is not None:
        data["nonce"] = msg.nonce
    if msg.message_reference:
        data["message_reference"] = msg.message_reference
    if msg.interaction_id is not None:
        data["webhook_id"] = str(world.application_id)
        data["application_id"] = str(world.application_id)
    if info["type"] != 1:
        gid = world.guild_of(msg.channel_id)
        data["guild_id"] = str(gid)
        if not author.bot:
            data["member"] = member(world, author, with_user=False, guild_id=gid)
    return data


def interaction(
    world: World,
    base_url: str,
    *,
    inter_id: int,
    token: str,
    type_: int,
    user_id: int,
    channel_id: int,
    data: dict[str, Any],
    message_obj: Message | None = None,
) -> dict[str, Any]:
    who = world.members[user_id]
    payload: dict[str, Any] = {
        "id": str(inter_id),
        "application_id": str(world.application_id),
        "type": type_,
        "data": data,
        "channel_id": str(channel_id),
        "channel": channel(world, channel_id),
        "token": token,
        "version": 1,
        "app_permissions": str(ALL_PERMISSIONS),
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(world.guild_of(channel_id) or world.guild_id)},
        "context": 0,
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if world.channels[channel_id]["type"] == 1:
        payload["user"] = user(who)
        payload["context"] = 1
    else:
        gid = world.guild_of(channel_id)
        payload["guild_id"] = str(gid)
        payload["guild"] = {"id": str(gid), "locale": "en-US", "features": []}
        payload["guild_locale"] = "en-US"
        payload["member"] = {**member(world, who, guild_id=gid), "permissions": permissions_of(who)}
    if message_obj is not None:
        payload["message"] = message(world, base_url, message_obj)
    return payload
