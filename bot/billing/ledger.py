"""The cost ledger: month-to-date spend from the jobs table, the free tier, projections and budgets."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge

from agent_client import AgentConfig, AgentRegistry
from bot.billing.cost import CostSettings, price, receipt
from bot.jobs.database import DatabaseErrors
from bot.jobs.store import Job, JobState, JobStore
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode, Usage

log = get_logger("bot.billing.ledger")

COST_USD = Counter(
    "spotrun_cost_usd_total", "Estimated Cloud Run + provider cost of jobs, before the free tier", ["agent"]
)
BUDGET_USED = Gauge(
    "spotrun_budget_used_ratio", "Month-to-date spend of a guild over its monthly budget", ["guild"]
)

# Failures that come from the agent's own answer: the request ran on an instance and is billed.
# Connection errors, an open breaker, auth and a 429 never ran agent code (or are not billed).
_REACHED_AGENT = {c.value for c in ErrorCode} | {"AgentTimeout", "AgentRejected", "ProtocolViolation"}


# ------------------------------------------------------------------------------ calendar


def month_bounds(now: float) -> tuple[float, float]:
    """The UTC calendar month containing `now`: [start, end) as epoch seconds."""
    d = datetime.fromtimestamp(now, UTC)
    start = datetime(d.year, d.month, 1, tzinfo=UTC)
    end = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC)
    return start.timestamp(), end.timestamp()


def month_key(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m")


# ------------------------------------------------------------------------- recording


async def record_cost(store: JobStore, job: Job, agent: AgentConfig, prices: CostSettings) -> None:
    """Called once a job finished. A success already carries the agent's receipt; a failure that
    reached the agent is billed too, estimated from the bot's wall-clock time of the call."""
    try:
        if job.total_usd is None:
            if job.state is not JobState.FAILED or job.error_code not in _REACHED_AGENT:
                return
            if job.started_at is None or job.finished_at is None:
                return
            usage = Usage(duration_ms=(job.finished_at - job.started_at) * 1000)
            bill = receipt(usage, agent, prices).plus_provider(job.routing_usd)
            await store.update(
                job.id,
                vcpu_s=bill.vcpu_s,
                gib_s=bill.gib_s,
                requests=bill.requests,
                provider_usd=bill.provider_usd,
                total_usd=bill.total_usd,
            )
            total = bill.total_usd
        else:
            total = job.total_usd
        await store.record_billing(job.id, agent.name, agent.cpu)
        COST_USD.labels(agent.name).inc(total)
        if job.guild_id is not None:
            await Ledger(store, prices).refresh_gauge(job.guild_id, job.finished_at or time.time())
    except DatabaseErrors as exc:
        # The job's result matters more than its bookkeeping: never fail a job over the ledger.
        log.warning("could not record a job's cost", job_id=job.id, error=str(exc))


# ---------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class Group:
    key: str
    jobs: int
    gross_usd: float
    net_usd: float


@dataclass(frozen=True)
class Allowance:
    """One free-tier dimension this month: how much of it the jobs used and how much is left."""

    used: float
    free: float

    @property
    def covered(self) -> float:
        return min(self.used, self.free)

    @property
    def left(self) -> float:
        return max(0.0, self.free - self.used)


@dataclass(frozen=True)
class MonthReport:
    start: float
    end: float
    now: float
    jobs: int
    gross_usd: float  # list price, before the free tier (what the receipts add up to)
    net_usd: float  # after the free tier, applied to the jobs in order of time
    provider_usd: float
    vcpu: Allowance
    gib: Allowance
    requests: Allowance
    by_agent: list[Group]
    by_command: list[Group]
    by_guild: list[Group]
    top_users: list[Group]
    projected_gross_usd: float
    projected_net_usd: float

    @property
    def elapsed_fraction(self) -> float:
        return min(1.0, max(1e-9, (self.now - self.start) / (self.end - self.start)))

    def per_1000(self) -> dict[str, float]:
        """Gross cost per 1000 commands per agent (all finished jobs count as commands)."""
        return {g.key: g.gross_usd / g.jobs * 1000 for g in self.by_agent if g.jobs}


@dataclass(frozen=True)
class Budget:
    guild_id: str
    user_id: str | None  # None: the whole guild
    amount_usd: float
    warned_month: str | None


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    spent_usd: float

    @property
    def ratio(self) -> float:
        return self.spent_usd / self.budget.amount_usd if self.budget.amount_usd > 0 else float("inf")


@dataclass(frozen=True)
class Admission:
    """What the budget check says about a new job: refused (exhausted) or warned (once a month)."""

    exhausted: BudgetStatus | None = None
    warn: BudgetStatus | None = None
    resets_at: float = 0.0


# Each finished job of the month with its free-tier share; named parameters :start :end :fv :fg :fr
# :pv :pg :pr. The running sums are account-wide: the free tier belongs to the billing account.
# The prices are cast once in `k`: PostgreSQL would otherwise type a parameter next to an integer
# column as an integer; {least}/{greatest} are spelled per dialect by the store.
_PRICED = """
WITH k AS (
    SELECT CAST(:pv AS DOUBLE PRECISION) AS pv, CAST(:pg AS DOUBLE PRECISION) AS pg,
           CAST(:pr AS DOUBLE PRECISION) AS pr, CAST(:fv AS DOUBLE PRECISION) AS fv,
           CAST(:fg AS DOUBLE PRECISION) AS fg, CAST(:fr AS DOUBLE PRECISION) AS fr
), m AS (
    SELECT id, created_at, finished_at, guild_id, user_id, command, state, {agent} AS agent,
           COALESCE(billed_s, 0) AS b, COALESCE(vcpu_s, 0) AS v, COALESCE(gib_s, 0) AS g,
           COALESCE(requests, 0) AS r, COALESCE(provider_usd, 0) AS p
    FROM jobs WHERE finished_at >= :start AND finished_at < :end
), c AS (
    SELECT *, SUM(v) OVER w AS cv, SUM(g) OVER w AS cg, SUM(r) OVER w AS cr
    FROM m WINDOW w AS (ORDER BY finished_at, id ROWS UNBOUNDED PRECEDING)
), priced AS (
    SELECT c.*,
           v * pv + g * pg + r * pr + p AS gross,
           {least}(v, {greatest}(0, cv - fv)) * pv + {least}(g, {greatest}(0, cg - fg)) * pg
             + {least}(r, {greatest}(0, cr - fr)) * pr + p AS net
    FROM c, k
)
"""


class Ledger:
    """Stateless over the store: cheap to build wherever it is needed."""

    def __init__(self, store: JobStore, prices: CostSettings, registry: AgentRegistry | None = None) -> None:
        self.store = store
        self.prices = prices
        self.registry = registry

    def _agent_sql(self) -> tuple[str, dict[str, Any]]:
        # Jobs recorded before the agent column existed (or never billed) map by command.
        if self.registry is None:
            return "COALESCE(agent, command)", {}
        whens, params = [], {}
        for i, agent in enumerate(self.registry):
            for j, command in enumerate(agent.commands):
                whens.append(f"WHEN :c{i}_{j} THEN :a{i}")
                params[f"c{i}_{j}"] = str(command)
            params[f"a{i}"] = agent.name
        return f"COALESCE(agent, CASE command {' '.join(whens)} ELSE command END)", params

    def _params(self, start: float, end: float) -> dict[str, Any]:
        pv, pg, pr = self.prices.rates
        p = self.prices
        return {
            "start": start,
            "end": end,
            "pv": pv,
            "pg": pg,
            "pr": pr,
            "fv": p.free_vcpu_seconds,
            "fg": p.free_gib_seconds,
            "fr": p.free_requests,
        }

    async def _rows(self, tail: str, now: float, **extra: Any) -> list[Any]:
        agent, agent_params = self._agent_sql()
        sql = _PRICED.replace("{agent}", agent) + tail
        params = {**self._params(*month_bounds(now)), **agent_params, **extra}
        return await self.store.read(sql, params)

    async def _groups(self, key: str, now: float, guild: str | None, limit: int) -> list[Group]:
        rows = await self._rows(
            f"SELECT {key}, COUNT(*), SUM(gross), SUM(net) FROM priced"  # noqa: S608 - key is ours
            " WHERE (CAST(:guild AS TEXT) IS NULL OR guild_id = :guild)"
            f" GROUP BY {key} ORDER BY SUM(gross) DESC, {key} LIMIT :limit",
            now,
            guild=guild,
            limit=limit,
        )
        return [Group(str(r[0] if r[0] is not None else "DMs"), r[1], r[2] or 0.0, r[3] or 0.0) for r in rows]

    async def month(
        self, now: float | None = None, *, guild: str | None = None, top: int = 10
    ) -> MonthReport:
        """Month to date. `guild` narrows the groups to one server; the free tier stays account-wide."""
        now = time.time() if now is None else now
        start, end = month_bounds(now)
        (row,) = await self._rows(
            "SELECT COUNT(*), SUM(gross), SUM(net), SUM(p), MAX(cv), MAX(cg), MAX(cr),"
            " SUM(CASE WHEN CAST(:guild AS TEXT) IS NULL OR guild_id = :guild THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN CAST(:guild AS TEXT) IS NULL OR guild_id = :guild THEN gross ELSE 0 END),"
            " SUM(CASE WHEN CAST(:guild AS TEXT) IS NULL OR guild_id = :guild THEN net ELSE 0 END),"
            " SUM(CASE WHEN CAST(:guild AS TEXT) IS NULL OR guild_id = :guild THEN p ELSE 0 END) FROM priced",
            now,
            guild=guild,
        )
        p = self.prices
        vcpu = Allowance(row[4] or 0.0, p.free_vcpu_seconds)
        gib = Allowance(row[5] or 0.0, p.free_gib_seconds)
        reqs = Allowance(float(row[6] or 0), float(p.free_requests))
        jobs, gross, net, provider = row[7] or 0, row[8] or 0.0, row[9] or 0.0, row[10] or 0.0
        report = MonthReport(
            start, end, now, jobs, gross, net, provider, vcpu, gib, reqs,
            by_agent=await self._groups("agent", now, guild, 100),
            by_command=await self._groups("command", now, guild, top),
            by_guild=await self._groups("guild_id", now, guild, top),
            top_users=await self._groups("user_id", now, guild, top),
            projected_gross_usd=0.0,
            projected_net_usd=0.0,
        )  # fmt: skip
        return _with_projection(report, self.prices, all_provider_usd=row[3] or 0.0)

    async def jobs_csv_rows(
        self, now: float | None = None, *, guild: str | None = None
    ) -> list[tuple[Any, ...]]:
        """This month's jobs for the CSV export, oldest first."""
        now = time.time() if now is None else now
        return await self._rows(
            "SELECT id, finished_at, guild_id, user_id, command, agent, state, b, v, g, p, gross, net"
            " FROM priced"
            " WHERE (CAST(:guild AS TEXT) IS NULL OR guild_id = :guild) ORDER BY finished_at, id",
            now,
            guild=guild,
        )

    # ------------------------------------------------------------------------- budgets

    async def spent(self, guild_id: str, user_id: str | None, now: float) -> float:
        """Month-to-date list price (before the free tier: that is the account's, not a server's)."""
        return await self.store.spent(guild_id, user_id, *month_bounds(now))

    async def set_budget(self, guild_id: str, user_id: str | None, amount_usd: float, by: str) -> None:
        await self.store.set_budget(guild_id, user_id, amount_usd, by)

    async def lift_budget(self, guild_id: str, user_id: str | None) -> bool:
        lifted = await self.store.lift_budget(guild_id, user_id)
        if user_id is None:
            BUDGET_USED.labels(guild_id).set(0)
        return lifted

    async def budgets(self, guild_id: str) -> list[Budget]:
        return [
            Budget(guild_id, u or None, amount, warned)
            for u, amount, warned in await self.store.budgets(guild_id)
        ]

    async def status(self, budget: Budget, now: float) -> BudgetStatus:
        return BudgetStatus(budget, await self.spent(budget.guild_id, budget.user_id, now))

    async def admit(
        self, guild_id: str, user_id: str, warn_ratio: float, now: float | None = None
    ) -> Admission:
        """The guild's budget and this user's: refuse at 100 %, warn once a month at `warn_ratio`."""
        now = time.time() if now is None else now
        resets_at = month_bounds(now)[1]
        warn = None
        for budget in await self.budgets(guild_id):
            if budget.user_id not in (None, user_id):
                continue
            status = await self.status(budget, now)
            if budget.user_id is None:
                BUDGET_USED.labels(guild_id).set(status.ratio)
            if status.ratio >= 1:
                return Admission(exhausted=status, resets_at=resets_at)
            if status.ratio >= warn_ratio and budget.warned_month != month_key(now):
                # Claim the warning before posting it: two concurrent commands must not both warn.
                claimed = await self.store.claim_budget_warning(guild_id, budget.user_id, month_key(now))
                if claimed and warn is None:
                    warn = status
        return Admission(warn=warn, resets_at=resets_at)

    async def refresh_gauge(self, guild_id: str, now: float) -> None:
        for budget in await self.budgets(guild_id):
            if budget.user_id is None:
                BUDGET_USED.labels(guild_id).set((await self.status(budget, now)).ratio)


def _with_projection(report: MonthReport, prices: CostSettings, all_provider_usd: float) -> MonthReport:
    """Linear on the elapsed fraction of the month: usage so far ÷ fraction elapsed. The list price
    is projected for the report's scope; the bill after the free tier for the whole account (the
    free tier can't be split between servers)."""
    f = report.elapsed_fraction
    per_request = prices.rates[2]
    net = (
        price(
            max(0.0, report.vcpu.used / f - report.vcpu.free),
            max(0.0, report.gib.used / f - report.gib.free),
            0,
            prices,
        )
        + max(0.0, report.requests.used / f - report.requests.free) * per_request
        + all_provider_usd / f
    )
    return dataclasses.replace(report, projected_gross_usd=report.gross_usd / f, projected_net_usd=net)
