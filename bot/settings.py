"""Typed settings of the bot process (env prefix SPOTRUN_), validated at startup."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_client import AgentRegistry, RegistryError, load_registry
from spotrun.config import SettingsError
from spotrun.settings_types import CommaList, LogLevel

LOCAL_REGISTRY = Path(__file__).resolve().parent.parent / "spotrun" / "agents.local.yaml"

IdList = CommaList[int]


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_", extra="ignore")

    # No default for the secret: `spotrun bot` refuses to start without it (see main.py);
    # the console frontend of `spotrun dev` does not need one.
    discord_token: SecretStr | None = None
    discord_api_base: str = Field(
        default="https://discord.com/api/v10",
        pattern=r"^https?://\S+$",
        description="REST base (discord.http.Route.BASE): a REST proxy, or an emulator in tests",
    )
    command_prefix: str = Field(default="!", min_length=1, max_length=5)
    message_content_intent: bool = Field(
        default=True,
        description="ask for the privileged Message Content intent: prefix commands need it; slash "
        "commands, mentions of the bot (plain-language requests) and DMs work without it",
    )
    database_url: str = Field(
        default="sqlite:///spotrun.db",
        pattern=r"^(sqlite:///.+|postgres(ql)?://\S+)$",
        description="sqlite:///path (one process, the default) or postgresql://… (any number of processes)",
    )
    database_pool_max: int = Field(
        default=10, ge=1, le=200, description="PostgreSQL: most connections this process opens"
    )
    database_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="PostgreSQL: connect and statement timeout"
    )
    job_lease_s: float = Field(
        default=10.0,
        ge=2,
        le=600,
        description="a running job's lease: how soon another process takes over",
    )
    job_lease_renew_s: float = Field(
        default=1.0, gt=0, le=60, description="lease renewal; also how soon a cancel from elsewhere lands"
    )
    gateway: bool = Field(
        default=True,
        description="connect to the Discord gateway; off: a worker that only runs and posts jobs "
        "(PostgreSQL), so no Discord event is handled by two processes",
    )
    job_poll_s: float = Field(
        default=1.0, gt=0, le=60, description="how often to look for jobs queued by other processes"
    )
    sync_guild_ids: IdList = Field(
        default=(), description="guilds to sync slash commands to (instant); empty: global (up to 1 h)"
    )
    owner_ids: IdList = Field(default=(), description="Discord user ids with admin rights everywhere")
    registry_file: Path | None = Field(
        default=None,
        validation_alias="SPOTRUN_CLIENT_REGISTRY_FILE",
        description="agent registry; default: the local registry (agents on 127.0.0.1:8181-8184)",
    )

    max_running_per_user: int = Field(default=2, ge=1, le=100)
    max_queued_per_user: int = Field(default=5, ge=0, le=1000)
    job_deadline_s: float | None = Field(
        default=None, gt=0, le=3600, description="per-job deadline; default: the agent's timeout_s"
    )
    max_input_bytes: int = Field(default=25 * 1024 * 1024, gt=0, le=25 * 1024 * 1024)
    upload_limit_bytes: int = Field(default=10 * 1024 * 1024, gt=0, le=500 * 1024 * 1024)
    status_edit_interval_s: float = Field(default=3.0, ge=0.2, le=60)
    waking_after_s: float = Field(default=4.0, ge=0, le=120)
    interaction_ttl_s: float = Field(default=15 * 60 - 30, gt=0, le=15 * 60)
    slash_ack_after_s: float = Field(
        default=2.0,
        ge=0,
        le=2.8,
        description="a slash command's status line answers it; if not ready by then, a defer "
        "answers first (Discord's limit is 3 s)",
    )
    manifest_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="how long start-up waits for each agent's manifest (then: stored copy)",
    )

    monitor_interval_min_s: float = Field(default=300.0, gt=0)
    monitor_interval_default_s: float = Field(default=3600.0, gt=0)
    monitor_tick_s: float = Field(default=30.0, gt=0, description="how often due monitors are checked")
    monitors_per_guild: int = Field(default=10, ge=0, le=1000)
    monitors_per_dm: int = Field(default=3, ge=0, le=1000, description="monitors in one DM with the bot")
    monitors_per_user: int = Field(default=5, ge=0, le=1000, description="monitors one user owns, anywhere")
    monitor_backoff_max_s: float = Field(
        default=6 * 3600.0, gt=0, description="longest wait between checks of a failing monitor"
    )
    monitor_ignore_timeout_s: float = Field(
        default=0.2, gt=0, le=5, description="time one ignore pattern may take on one page"
    )

    private_replies: Literal["delete", "dm", "public"] = Field(
        default="delete",
        description="how prefix commands answer personal views (!jobs, !cancel, !help, admin views) in a "
        "server: a reply that deletes itself, a DM, or a plain reply; slash commands are always ephemeral",
    )
    private_reply_delete_after_s: float = Field(default=60.0, gt=0, le=3600)

    ops_port: int = Field(default=8000, ge=0, le=65535, description="0 disables the ops server")
    drain_budget_s: float = Field(default=10.0, ge=0, le=14)
    log_level: LogLevel = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @model_validator(mode="after")
    def _shards_in_range(self) -> BotSettings:
        if self.shard_count and any(not 0 <= s < self.shard_count for s in self.shard_ids):
            raise ValueError(
                f"SPOTRUN_SHARD_IDS {list(self.shard_ids)} must lie in 0..{self.shard_count - 1} "
                "(SPOTRUN_SHARD_COUNT)"
            )
        return self

    @property
    def database_path(self) -> str:
        """The SQLite file (also where the crash-loop record lives); ':memory:' for PostgreSQL,
        whose processes keep no local state (the record then lives in memory only)."""
        if self.database_url.startswith("sqlite:///"):
            return self.database_url.removeprefix("sqlite:///")
        return ":memory:"

    @property
    def registry_path(self) -> Path:
        return self.registry_file or LOCAL_REGISTRY

    # --- lifecycle on Spot: preemption, crash-loop backoff, status (bot.runtime.lifecycle, bot.exts.status)
    discord_gateway_url: str | None = Field(
        default=None,
        pattern=r"^wss?://\S+$",
        description="gateway URL for re-IDENTIFY after INVALID_SESSION (a proxy, or an emulator in tests)",
    )
    login_backoff_s: CommaList[float] = Field(
        default=(0.0, 5.0, 15.0, 60.0, 300.0),
        description="wait before the gateway login by the number of starts within the window (capped)",
    )
    login_backoff_window_s: float = Field(default=600.0, ge=0, le=86_400)
    exit_deadline_s: float = Field(
        default=14.0, gt=0, le=15, description="after SIGTERM the process exits by then, whatever hangs"
    )
    healthz_stale_s: float = Field(
        default=10.0, gt=0, le=300, description="heartbeat age that fails /healthz"
    )
    pod_name: str | None = Field(default=None, description="from the chart's downward API")
    node_name: str | None = Field(default=None, description="from the chart's downward API")
    node_spot: bool | None = Field(default=None, description="from the chart; else ask the metadata server")
    metadata_timeout_s: float = Field(default=0.5, gt=0, le=5)

    # --- shards across processes (bot.shards): leases in the store, standbys, hand-over on SIGTERM
    shard_count: int = Field(
        default=0, ge=0, le=100_000, description="total shards; 0: as Discord recommends (GET /gateway/bot)"
    )
    shard_ids: CommaList[int] = Field(
        default=(),
        description="shards this process prefers; empty: s % SPOTRUN_REPLICAS == the pod ordinal (-N)",
    )
    replicas: int = Field(default=1, ge=1, le=1000, description="bot processes sharing the shards")
    zone: str | None = Field(
        default=None, description="shown in /status; else the metadata server's zone, else unknown"
    )
    shard_lease_s: float = Field(
        default=5.0, ge=1, le=60, description="a shard's lease: a standby takes over this long after a kill"
    )
    shard_tick_s: float = Field(
        default=1.0, gt=0, le=10, description="how often shard leases are renewed and free shards sought"
    )
    shard_unclaimed_grace_s: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="a shard nobody holds is left this long to a live process that prefers it (pods "
        "start one by one); a lapsed lease (holder died) is taken at once",
    )
    shard_handover_s: float = Field(
        default=5.0,
        ge=0,
        le=12,
        description="after SIGTERM, how long a shard's session waits for the new holder to be READY",
    )
    identify_interval_s: float = Field(
        default=5.0, ge=0, le=60, description="one IDENTIFY per this per max_concurrency bucket (Discord: 5)"
    )

    # --- cost budgets (bot.billing.ledger, bot.exts.cost); prices and the free tier are SPOTRUN_COST_*
    budget_warn_ratio: float = Field(
        default=0.8, gt=0, le=1, description="share of a monthly budget at which the channel is warned once"
    )


def agent_registry(settings: BotSettings) -> AgentRegistry:
    """The agent registry the settings point at; an unreadable or invalid one is a settings error."""
    try:
        return load_registry(settings.registry_path)
    except RegistryError as exc:
        raise SettingsError(f"SPOTRUN_CLIENT_REGISTRY_FILE: {exc}") from None
