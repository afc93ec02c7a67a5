"""ShardKeeper: holds this process's shard leases, takes over lapsed or handed-over shards, paces
IDENTIFYs through the store, and hands its shards to a standby on SIGTERM.

Every `shard_tick_s` the keeper renews its leases, beats its row in the process table and looks
for shards without a live holder: its preferred shards first, then at most one other per tick (so
the survivors of a dead process share its shards); and it gives a shard it holds but does not
prefer back to a live process that prefers it. A holder that cannot renew for most of a lease
closes its sessions itself: another process may hold the shard by then, and two sessions on one
shard would handle every event twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from bot.jobs.database import DatabaseErrors
from bot.jobs.store import JobStore, ShardLease
from bot.runtime import metrics
from bot.settings import BotSettings
from bot.shards.gateway import ShardGateway
from bot.shards.plan import preferred_shards, shard_of
from spotrun.logs import get_logger

log = get_logger("bot.shards")

_SETTLE_S = 3.0  # how long a leaving process waits for the command handlers it started
_FENCE_SHARE = 0.8  # close our sessions once this share of a lease passed without a renewal
_RETRY_GIVE_BACK_S = 60.0  # after an offer to give a shard back that nobody took


class ShardKeeper:
    def __init__(
        self,
        store: JobStore,
        gateway: ShardGateway,
        settings: BotSettings,
        *,
        jobs_running: Callable[[], int],
        backoff: Callable[[int], float],
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.settings = settings
        self.jobs_running = jobs_running
        self.backoff = backoff  # earlier IDENTIFYs of a shard within the window -> wait after the last
        self.zone = settings.zone or "unknown"
        self.pod = settings.pod_name or store.owner
        self.count = 0
        self.max_concurrency = 1
        self.preferred: tuple[int, ...] = ()
        self.held: set[int] = set()  # leases this process holds (sessions connecting or live)
        self.live: set[int] = set()  # shards whose session is READY here
        self.started_at = time.time()
        self.handing_over = False
        self._launching: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._renewed_at = time.monotonic()
        self._exported: set[int] = set()
        self._unclaimed_since: dict[int, float] = {}
        # Shards taken from a holder handing them over -> until when (monotonic) both sessions may
        # receive the same events: commands from them are claimed in the store meanwhile.
        self._overlap_until: dict[int, float] = {}
        self._returning: dict[int, float] = {}  # shards offered back -> until when (monotonic)
        self._no_return_until: dict[int, float] = {}
        self._handed_seen: dict[int, float] = {}

    # --------------------------------------------------------------------------- start

    async def start(self, count: int, max_concurrency: int) -> None:
        """Called once the shard count is known (discord.py's launch_shards): take the preferred
        shards that are free now, then keep looking every tick."""
        self.count = count
        self.max_concurrency = max(1, max_concurrency)
        self.preferred = preferred_shards(count, self.settings.shard_ids, self.settings.replicas, self.pod)
        if not self.store.shared:
            # SQLite is one process's store: leases in it were left by a dead earlier process.
            await self.store.forget_shard_leases()
        log.info(
            "shards planned",
            shard_count=count,
            preferred=list(self.preferred),
            max_concurrency=self.max_concurrency,
            zone=self.zone,
            pod=self.pod,
        )
        metrics.SHARD_COUNT.set(count)
        with contextlib.suppress(*DatabaseErrors):
            await self.tick()
        self._loop_task = asyncio.create_task(self._loop(), name="shard-keeper")

    async def start_worker(self) -> None:
        """A worker (SPOTRUN_GATEWAY=false) holds no shard; it still shows in /status."""
        self._loop_task = asyncio.create_task(self._loop(), name="shard-keeper")

    # ---------------------------------------------------------------------------- loop

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.shard_tick_s)
            try:
                await self.tick()
            except DatabaseErrors as exc:
                log.warning("job store unreachable; shard leases not renewed", error=str(exc))
                await self._fence()

    async def tick(self) -> None:
        kept = await self.store.renew_shards(self.held, self.settings.shard_lease_s)
        self._renewed_at = time.monotonic()
        if not self.handing_over:  # handing over, hand_over() closes each once its taker is READY
            for shard_id in sorted(self.held - kept - set(self._returning)):
                await self.drop(shard_id, "another process holds its lease now")
        if self.settings.gateway and not self.handing_over and self.count:
            leases = await self.store.shard_leases()
            wanted = await self._wanted_elsewhere(leases)
            await self._acquire(leases, wanted)
            await self._give_back(leases, wanted)
        await self._beat()
        self.export()

    async def _wanted_elsewhere(self, leases: dict[int, ShardLease]) -> dict[int, set[str]]:
        """Shard -> the other live gateway processes that prefer it; read only when it matters (a
        shard handed over that this process does not prefer, or one it holds but does not prefer)."""
        mine = set(self.preferred)
        handed = {s for s, lease in leases.items() if lease.handing_over and lease.owner != self.store.owner}
        if not (handed - mine) and not (self.held - mine):
            return {}
        wanted: dict[int, set[str]] = {}
        for p in await self.store.processes(seen_within_s=self.settings.shard_lease_s):
            if p.gateway and p.owner != self.store.owner:
                for shard_id in p.preferred:
                    wanted.setdefault(shard_id, set()).add(p.owner)
        return wanted

    async def _give_back(self, leases: dict[int, ShardLease], wanted: dict[int, set[str]]) -> None:
        """Hand a shard this process holds but does not prefer to a live process that prefers it
        (a pod back after its shards moved away): the same hand-over as on SIGTERM, one shard at a
        time, the session closing once the new one is READY. If nobody takes it within
        SPOTRUN_SHARD_HANDOVER_S the offer is withdrawn and not repeated for a minute."""
        now = time.monotonic()
        for shard_id, deadline in list(self._returning.items()):
            lease = leases.get(shard_id)
            if lease is None or (lease.owner != self.store.owner and lease.ready_at is not None):
                del self._returning[shard_id]
                await self.drop(shard_id, "given back to the process that prefers it")
            elif lease.owner == self.store.owner and now > deadline:
                del self._returning[shard_id]
                self._no_return_until[shard_id] = now + _RETRY_GIVE_BACK_S
                await self.store.withdraw_hand_over(shard_id)
                log.info("nobody took the shard back; keeping it", shard=shard_id)
        if self._returning:
            return
        for shard_id in sorted(self.live - set(self.preferred)):
            if wanted.get(shard_id) and now >= self._no_return_until.get(shard_id, 0.0):
                await self.store.hand_over_shards([shard_id])
                self._returning[shard_id] = now + self.settings.shard_handover_s
                log.info("giving a shard back", shard=shard_id, to=sorted(wanted[shard_id]))
                return

    async def _beat(self) -> None:
        await self.store.beat_process(
            pod=self.pod,
            zone=self.zone,
            started_at=self.started_at,
            shards=self.live,
            gateway=self.settings.gateway,
            jobs_running=self.jobs_running(),
            preferred=self.preferred,
        )

    async def _acquire(self, leases: dict[int, ShardLease], wanted: dict[int, set[str]]) -> None:
        now = time.time()

        def free(shard_id: int) -> bool:
            lease = leases.get(shard_id)
            return (
                lease is None
                or lease.expires_at < now
                or (lease.handing_over and lease.owner != self.store.owner)
            )

        candidates = [s for s in range(self.count) if s not in self.held and free(s)]
        for shard_id in list(self._unclaimed_since):
            if shard_id not in candidates or shard_id in leases:
                del self._unclaimed_since[shard_id]
        handed = [s for s in candidates if (lease := leases.get(s)) is not None and lease.handing_over]
        for shard_id in list(self._handed_seen):
            if shard_id not in handed:
                del self._handed_seen[shard_id]
        mine = [
            s
            for s in candidates
            if s in self.preferred or (s in handed and self._may_take(s, leases, wanted))
        ]
        others = self._past_grace([s for s in candidates if s not in mine and s not in handed], leases)
        for shard_id in mine + others[:1]:  # others: one per tick, so the survivors share them
            if await self.store.take_shard(shard_id, self.settings.shard_lease_s):
                previous = leases.get(shard_id)
                log.info(
                    "shard taken",
                    shard=shard_id,
                    preferred=shard_id in self.preferred,
                    from_owner=previous.owner if previous else None,
                    handed_over=bool(previous and previous.handing_over),
                )
                if previous is not None and previous.handing_over:
                    self._overlap_until[shard_id] = float("inf")  # until READY, then a margin
                self._launch(shard_id)

    def _may_take(self, shard_id: int, leases: dict[int, ShardLease], wanted: dict[int, set[str]]) -> bool:
        """A shard being handed over goes first to a live process that prefers it (other than the
        one leaving); anyone takes it when there is none, or when that one has not within 1.5 ticks."""
        if not wanted.get(shard_id, set()) - {leases[shard_id].owner}:
            return True
        seen = self._handed_seen.setdefault(shard_id, time.monotonic())
        return time.monotonic() - seen >= 1.5 * self.settings.shard_tick_s

    def _past_grace(self, shards: list[int], leases: dict[int, ShardLease]) -> list[int]:
        """Of these shards: those with a lapsed lease (the holder died: not waited for), and those
        nobody holds that stayed so for the grace (pods of a StatefulSet start one by one, and the
        first must not take the shards the next ones prefer)."""
        now = time.monotonic()
        out = []
        for shard_id in shards:
            since = now if shard_id in leases else self._unclaimed_since.setdefault(shard_id, now)
            if shard_id in leases or now - since >= self.settings.shard_unclaimed_grace_s:
                out.append(shard_id)
        return out

    def _launch(self, shard_id: int) -> None:
        self.held.add(shard_id)
        task = asyncio.create_task(self.gateway.launch(shard_id), name=f"shard-{shard_id}-launch")
        self._launching[shard_id] = task
        task.add_done_callback(lambda _: self._launching.pop(shard_id, None))

    async def drop(self, shard_id: int, why: str) -> None:
        """Close this process's session on a shard (its lease is gone or handed over)."""
        self.held.discard(shard_id)
        self.live.discard(shard_id)
        task = self._launching.pop(shard_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.gateway.close(shard_id)
        log.info("shard closed", shard=shard_id, why=why)
        self.export()

    async def _fence(self) -> None:
        stale_s = time.monotonic() - self._renewed_at
        if self.held and stale_s > _FENCE_SHARE * self.settings.shard_lease_s:
            log.warning(
                "shard leases could not be renewed: closing their sessions before another process "
                "takes them over",
                shards=sorted(self.held),
                unrenewed_s=round(stale_s, 1),
            )
            for shard_id in sorted(self.held):
                await self.drop(shard_id, "lease not renewable")

    # ------------------------------------------------------------------ gateway events

    async def before_identify(self, shard_id: int) -> None:
        """discord.py's before_identify_hook: book an IDENTIFY slot across every process, then wait."""
        bucket = shard_id % self.max_concurrency
        try:
            wait_s = await self.store.reserve_identify(
                shard_id,
                bucket,
                self.settings.identify_interval_s,
                self.backoff,
                self.settings.login_backoff_window_s,
            )
        except DatabaseErrors as exc:
            # Without the store, pace alone and conservatively: Discord resets the token past 1000.
            wait_s = self.settings.identify_interval_s
            log.warning("could not book an IDENTIFY slot; waiting the full interval", error=str(exc))
        if wait_s > 0.05:
            log.info("IDENTIFY paced", shard=shard_id, bucket=bucket, wait_s=round(wait_s, 2))
            await asyncio.sleep(wait_s)

    async def on_ready(self, shard_id: int) -> None:
        """READY (or RESUMED) on a shard: it is live here; a holder handing it over may close now."""
        if shard_id not in self.held:
            return
        self.live.add(shard_id)
        if shard_id in self._overlap_until:
            # The old holder closes once it sees this READY (polling every 50 ms, at most
            # SPOTRUN_SHARD_HANDOVER_S after its SIGTERM); keep claiming a little past that.
            self._overlap_until[shard_id] = time.monotonic() + self.settings.shard_handover_s + _SETTLE_S
        self.export()
        log.info("shard ready", shard=shard_id)
        try:
            await self.store.shard_ready(shard_id)
            await self._beat()
        except DatabaseErrors as exc:
            log.warning("could not record the shard as ready", shard=shard_id, error=str(exc))

    def on_disconnect(self, shard_id: int) -> None:
        self.live.discard(shard_id)
        self.export()

    async def should_handle(self, guild_id: int | None, event_id: str) -> bool:
        """Act on a command event only from a shard this process holds, and, while another
        process may receive the same event, only if no other process claimed it first: during a
        hand-over (both sessions READY for a moment), and when this process's leases went
        unrenewed for most of a lease (a stalled loop: another process may hold the shard now).
        Outside those windows a shard has one session and no claim is needed."""
        shard_id = shard_of(guild_id, self.count)
        if self.count and shard_id not in self.held:
            return False
        if not self.store.shared or not self._may_overlap(shard_id):
            return True
        try:
            claimed = await self.store.claim_event(event_id)
        except DatabaseErrors:
            return True  # the command then meets the same store error and tells the user
        if not claimed:
            log.info("event handled by another process", event_id=event_id)
        return claimed

    def _may_overlap(self, shard_id: int) -> bool:
        now = time.monotonic()
        stale = now - self._renewed_at > _FENCE_SHARE * self.settings.shard_lease_s
        return (
            self.handing_over
            or stale
            or shard_id in self._returning
            or now < self._overlap_until.get(shard_id, 0.0)
        )

    @property
    def gateway_ok(self) -> bool:
        """Every shard held has a READY session (a standby holding none is fine)."""
        return bool(self.count) and self.held <= self.live

    # ----------------------------------------------------------------------- shutdown

    async def hand_over(self, timeout_s: float) -> None:
        """SIGTERM: offer every shard to a standby and close each session only once its new holder
        is READY (or after `timeout_s`), so the shard is never without a session in between. Then
        let the commands this process claimed meanwhile finish before the REST session and the
        store close."""
        self.handing_over = True
        await self._offer(timeout_s)
        unfinished = await self.gateway.settle(_SETTLE_S)
        if unfinished:
            log.warning("command handlers still running at exit", handlers=unfinished)

    async def _offer(self, timeout_s: float) -> None:
        mine = set(self.held)
        if not mine or not self.store.shared:
            return
        started = time.monotonic()
        try:
            others = [
                p
                for p in await self.store.processes(seen_within_s=self.settings.shard_lease_s)
                if p.gateway and p.owner != self.store.owner
            ]
            if not others:
                log.info("no standby to hand the shards to; closing them", shards=sorted(mine))
                return
            await self.store.hand_over_shards()
            while pending := mine & self.held:
                leases = await self.store.shard_leases()
                for shard_id in sorted(pending):
                    lease = leases.get(shard_id)
                    if lease is None or (lease.owner != self.store.owner and lease.ready_at is not None):
                        await self.drop(shard_id, "handed over")
                if time.monotonic() - started > timeout_s:
                    break
                await asyncio.sleep(0.05)
        except DatabaseErrors as exc:
            log.warning("hand-over interrupted by the store", error=str(exc))
        left = sorted(mine & self.held)
        log.info(
            "shards handed over" if not left else "shard hand-over timed out",
            handed=sorted(mine - self.held),
            kept_until_exit=left,
            took_s=round(time.monotonic() - started, 2),
        )

    async def stop(self) -> None:
        """Stop the loop and release what is left: the next process need not wait for a lapse."""
        self.handing_over = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._launching.values()):
            task.cancel()
        try:
            await self.store.release_shards()
            await self.store.drop_process()
        except DatabaseErrors as exc:
            log.warning("could not release shard leases; they will lapse", error=str(exc))
        self.held.clear()
        self.live.clear()
        self.export()

    # ------------------------------------------------------------------------ metrics

    def export(self) -> None:
        for shard_id in set(range(self.count)) | self._exported:
            metrics.SHARD_OWNED.labels(shard=str(shard_id)).set(1 if shard_id in self.live else 0)
        self._exported |= set(range(self.count))
        metrics.PROCESS_STANDBY.set(0 if self.live else 1)
