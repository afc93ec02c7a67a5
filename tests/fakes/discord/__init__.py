"""A Discord API emulator (REST v10 + gateway) on loopback for end-to-end tests of the real bot."""

from tests.fakes.discord.emulator import DiscordEmulator
from tests.fakes.discord.state import Message

__all__ = ["DiscordEmulator", "Message"]
