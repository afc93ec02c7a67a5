"""Every agent's commands, `!x` and `/x`, built from the manifests (bot.commands.catalog): a new
agent is a registry entry, not bot code. Prefix forms keep the `!x words key=value` syntax;
slash forms get typed options, choices, ranges and attachment options from the schema."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands.schema import OptionDef, options_for
from bot.exts._submit import Ctx, submit
from bot.exts.errors import report_error
from spotrun.logs import get_logger
from spotrun.protocol import CommandSpec

if TYPE_CHECKING:
    from bot.client import SpotrunBot

log = get_logger("bot.exts.agents")

# Names the bot's own commands use: an agent may not shadow them.
RESERVED = frozenset({"help", "jobs", "cancel", "monitor", "status", "cost", "budget", "config"})


def _annotation(opt: OptionDef) -> Any:
    """The discord.py annotation that makes the option Discord will validate before we see it."""
    if opt.kind == "attachment":
        base: Any = discord.Attachment
    elif opt.choices:
        base = Literal[opt.choices]
    elif opt.kind == "boolean":
        base = bool
    elif opt.kind in ("integer", "number"):
        kind = int if opt.kind == "integer" else float
        low = None if opt.min_value is None else kind(opt.min_value)
        high = None if opt.max_value is None else kind(opt.max_value)
        base = app_commands.Range[kind, low, high] if (low, high) != (None, None) else kind  # type: ignore[valid-type]
    elif opt.min_length or opt.max_length:
        base = app_commands.Range[str, opt.min_length, opt.max_length]  # type: ignore[misc]
    else:
        base = str
    return base if opt.required else base | None


def slash_command(bot: SpotrunBot, spec: CommandSpec) -> app_commands.Command[Any, ..., None]:
    """`/x` with one typed option per argument and one attachment option per input file."""
    options = options_for(
        spec.args.model_json_schema(), 1 if spec.needs_file else 0, spec.takes_files, spec.file_words
    )
    name = spec.command

    async def run(interaction: discord.Interaction[SpotrunBot], **values: Any) -> None:
        ctx = await commands.Context.from_interaction(interaction)
        current = bot.catalog.spec(name)
        try:
            if current is None:
                raise commands.CheckFailure(f"`/{name}` is not available right now; see `/help`")
            attachments = [v for v in values.values() if isinstance(v, discord.Attachment)]
            given = {
                k: v for k, v in values.items() if v is not None and not isinstance(v, discord.Attachment)
            }
            await submit(ctx, current, options=given, attachments=attachments)
        except Exception as exc:  # noqa: BLE001 - the one error handler words it for the user
            await report_error(ctx, exc)

    params = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for opt in sorted(options, key=lambda o: not o.required):  # Discord: required options first
        params.append(
            inspect.Parameter(
                opt.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(opt),
                default=inspect.Parameter.empty if opt.required else None,
            )
        )
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__discord_app_commands_param_description__ = {o.name: o.description for o in options}  # type: ignore[attr-defined]
    return app_commands.Command(name=name, description=spec.summary[:100], callback=run)


def prefix_command(spec: CommandSpec) -> commands.Command[Any, ..., None]:
    """`!x words key=value` with the message's attachments, parsed against the manifest's model."""
    name = spec.command

    async def run(ctx: Ctx, *, args: str = "") -> None:
        current = ctx.bot.catalog.spec(name)
        if current is None:
            raise commands.CheckFailure(f"`{name}` is not available right now; see `help`")
        await submit(ctx, current, text=args)

    return commands.Command(run, name=name, help=spec.summary, brief=spec.summary)


class AgentCommands(commands.Cog):
    """Owns the commands built from manifests and rebuilds them when a manifest changes."""

    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot
        self.installed: dict[str, CommandSpec] = {}

    def install(self) -> None:
        """Make the bot's `!x` and `/x` match the catalog: add new, replace changed, drop gone."""
        specs = self.bot.catalog.specs()
        for name in sorted(set(specs) & RESERVED):
            log.warning("an agent command shadows a bot command; not installed", command=name)
        wanted = {n: s for n, s in specs.items() if n not in RESERVED}
        for name in set(self.installed) - set(wanted):
            self.bot.remove_command(name)
            self.bot.tree.remove_command(name)
        for name, spec in wanted.items():
            if self.installed.get(name) == spec:
                continue
            self.bot.remove_command(name)
            self.bot.tree.remove_command(name)
            self.bot.add_command(prefix_command(spec))
            self.bot.tree.add_command(slash_command(self.bot, spec))
        self.installed = wanted
        log.info("agent commands installed", commands=sorted(wanted))

    async def on_catalog_change(self) -> None:
        self.install()
        await self.bot.sync_commands_if_changed()

    async def cog_unload(self) -> None:
        for name in self.installed:
            self.bot.remove_command(name)
            self.bot.tree.remove_command(name)


async def setup(bot: SpotrunBot) -> None:
    cog = AgentCommands(bot)
    await bot.add_cog(cog)
    cog.install()
    bot.catalog.on_change(cog.on_catalog_change)
