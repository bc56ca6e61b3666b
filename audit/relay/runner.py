"""The relay: one leader per database seals the outbox, signs checkpoints, purges, and runs stages.

Every process may run a :class:`Relay`; the lease makes exactly one of them the leader. The
leader runs its loops — sealing, lease renewal, checkpoints, retention — and the extra
*stages* it was given (log-stream delivery is one) side by side. Followers retry the lease
every second and take over once it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from ..backends import backend_for, has_pending, prune_outbox, seal_pending
from ..checkpoints import write_checkpoints
from ..host import AuditHost, Transactions
from ..metrics import EVENTS_SEALED, SEAL_LAG_SECONDS
from ..retention import purge_expired
from ..search_index import INDEX_BATCH
from ..signals import OUTBOX_WRITTEN, Signal
from ..signing import CheckpointKey, load_signing_key
from .lease import Lease, LeaseLost

__all__ = ["Relay", "RelayContext", "Stage", "prune_outbox_forever"]

_log = structlog.get_logger("audit.relay")


@dataclass(frozen=True, slots=True)
class RelayContext:
    """What a stage is given while its relay leads.

    ``sealed`` is notified after every sealed batch: a stage that ships sealed events waits on
    it (with a timeout, as a poll) instead of spinning. ``fence`` renews the lease inside a
    write transaction, raising :class:`LeaseLost` if another process took over.
    """

    transactions: AuditHost
    sealed: Signal
    holder: str
    fence: Callable[[AsyncConnection], Awaitable[None]]


#: A stage runs while its relay leads, until cancelled: ``async def deliver(ctx): while True: ...``.
#: If it raises, the error is logged and the stage restarted with backoff; sealing goes on.
Stage = Callable[[RelayContext], Coroutine[Any, Any, None]]


def _default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Relay:
    """Seals the audit outbox into the hash-chained log and runs the relay's stages.

    The host constructs one per process and calls :meth:`start` and :meth:`stop` from its
    lifespan (stop before disposing of the engine: it seals what is pending and releases the
    lease); ``scimtrail relay`` calls :meth:`run`.

    ``secret_key`` derives the checkpoint signing key (empty: a key generated once and stored).
    ``batch_size`` bounds one sealing transaction, which holds SQLite's write lock. Woken by a
    commit, the relay seals at once if it last sealed more than ``linger`` seconds ago, else when
    that much time has passed, so concurrent commits share a batch and every event is sealed
    within ``linger`` of its commit; without a wake-up it polls every ``poll_interval`` (for
    events written by other processes).
    ``lease_ttl`` is how long a silent leader keeps the lease; checkpoints and the retention
    purge run every ``checkpoint_interval`` and ``retention_interval`` seconds, and sealed
    events join SQLite's full-text index every ``index_interval`` (see :mod:`audit.search_index`).

    Sealing, indexing and checkpoints go through the host's ``seal()`` transactions (on SQLite
    the log's file alone: see :class:`audit.AuditHost`), checking the lease instead of renewing
    it; on SQLite the outbox rows they sealed are pruned every ``prune_interval`` seconds, or by
    the host (:func:`prune_outbox_forever`) when it is ``None``.
    """

    def __init__(
        self,
        transactions: AuditHost,
        *,
        secret_key: str = "",
        stages: Sequence[Stage] = (),
        holder: str | None = None,
        batch_size: int = 500,
        poll_interval: float = 0.05,
        linger: float = 0.08,
        lease_ttl: float = 10.0,
        checkpoint_interval: float = 60.0,
        retention_interval: float = 3600.0,
        index_interval: float = 1.0,
        wakeup: Signal = OUTBOX_WRITTEN,
        prune_interval: float | None = 1.0,
    ) -> None:
        self.transactions = transactions
        self.holder = holder or _default_holder()
        self.sealed = Signal()
        self._secret_key = secret_key
        self._stages = tuple(stages)
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._linger = linger
        self._checkpoint_interval = checkpoint_interval
        self._retention_interval = retention_interval
        self._index_interval = index_interval
        self._wakeup = wakeup
        self._prune_interval = prune_interval
        self._lease = Lease(holder=self.holder, ttl=lease_ttl)
        self._key: CheckpointKey | None = None
        self._task: asyncio.Task[None] | None = None
        self._leading = False
        self.context = RelayContext(transactions, self.sealed, self.holder, self._lease.fence)

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def start(self) -> None:
        """Start in the background; returns at once (leadership may come later)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="audit-relay")

    async def stop(self) -> None:
        """Stop, seal what is pending and sign a last checkpoint if leading, and release the lease."""
        task, self._task = self._task, None
        if task is None:
            return
        was_leading = self._leading
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if was_leading:
            try:
                await asyncio.wait_for(self._farewell(), timeout=5.0)
            except Exception:
                _log.warning("relay stopped without a final seal", exc_info=True)

    async def run(self) -> None:
        """Lead when the lease allows, follow otherwise; until cancelled."""
        while True:
            try:
                async with self.transactions.write() as conn:
                    leading = await self._lease.hold(conn)
            except Exception:
                _log.warning("relay could not reach the lease", exc_info=True)
                leading = False
            if leading:
                try:
                    await self._lead()
                except Exception:
                    _log.exception("relay leadership ended by an error; retrying")
                    await asyncio.sleep(1.0)
            else:
                await asyncio.sleep(min(1.0, self._lease.ttl / 3))

    async def drain(self) -> int:
        """Seal everything pending now and index it for search, under the lease; returns how many
        events were sealed."""
        total = 0
        while count := await self._seal_batch():
            total += count
        await self.index()
        return total

    async def index(self) -> int:
        """Add every sealed event not yet in the full-text index to it; returns how many."""
        async with self.transactions.read() as conn:
            # Cheap check first (and nothing to do on PostgreSQL), so an idle relay never writes.
            backend = backend_for(conn)
            if not await backend.has_unindexed(conn):
                return 0
        total = 0
        while True:
            async with self._log_write() as conn:
                count = await backend.index_sealed(conn, limit=INDEX_BATCH)
            total += count
            if not count:
                return total

    async def checkpoint(self) -> int:
        """Sign a checkpoint for every chain that moved; returns how many were written."""
        key = await self._signing_key()
        async with self._log_write() as conn:
            return await write_checkpoints(conn, key, now=datetime.now(UTC))

    async def prune(self) -> int:
        """Delete the outbox rows already sealed (SQLite); returns how many."""
        async with self.transactions.write() as conn:
            return await prune_outbox(conn)

    @asynccontextmanager
    async def _log_write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction for the log's tables, under the lease: the host's ``seal()``, which
        on SQLite writes the log alone, so the lease (in the main database) is checked there
        rather than renewed."""
        if not self._lease.holding(margin=self._lease.ttl / 3):
            # Not leading yet (a drain from the command line), or the renewal is late: take or
            # extend the lease first, in the main database where it lives.
            async with self.transactions.write() as conn:
                await self._lease.fence(conn)
        async with self.transactions.seal() as conn:
            await self._lease.check(conn)
            yield conn

    async def purge(self) -> int:
        """Apply every organisation's retention window now; returns how many events were purged."""
        results = await purge_expired(self.transactions, fence=self._lease.fence)
        return sum(r.purged for r in results)

    async def _lead(self) -> None:
        self._leading = True
        _log.info("relay leading", holder=self.holder)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._seal_loop())
                group.create_task(self._renew_loop())
                group.create_task(self._every(self._checkpoint_interval, self.checkpoint, "checkpoint"))
                group.create_task(self._every(self._retention_interval, self.purge, "retention purge"))
                group.create_task(self._every(self._index_interval, self.index, "search indexing"))
                if self._prune_interval is not None:
                    group.create_task(self._every(self._prune_interval, self.prune, "outbox pruning"))
                for stage in self._stages:
                    group.create_task(self._supervise(stage))
        except* LeaseLost:
            _log.warning("relay lost its lease; following", holder=self.holder)
        finally:
            self._leading = False

    async def _seal_batch(self, *, known_pending: bool = False) -> int:
        if not known_pending:
            async with self.transactions.read() as conn:
                # Cheap check first, so an idle relay's poll never takes the write lock.
                if not await has_pending(conn):
                    return 0
        async with self._log_write() as conn:
            sealed = await seal_pending(conn, limit=self._batch_size)
        if sealed.count:
            EVENTS_SEALED.inc(sealed.count)
            self.sealed.notify()
            now = datetime.now(UTC)
            for occurred_at in sealed.occurred_at:
                SEAL_LAG_SECONDS.observe(max((now - datetime.fromisoformat(occurred_at)).total_seconds(), 0.0))
        return sealed.count

    async def _seal_loop(self) -> None:
        failures = 0
        woken = backlog = False
        clock = asyncio.get_running_loop().time
        last_sealed = float("-inf")
        while True:
            if woken and not backlog:  # noqa: SIM102 (the comment belongs to the outer condition)
                # Batches start at most every `linger` seconds: under load the commits of a
                # linger's worth of requests share one batch, whose fixed cost (the lease, the
                # chain heads, and at commit the last page of each of the log's eight B-trees,
                # rewritten whole) they share out; a lone event after a quiet spell is sealed at
                # once. 80 ms still seals every event within 100 ms of its commit (at 90 ms
                # the slowest took 102 ms); 90 ms against 50 ms measured 1.04-1.05x audited
                # POST throughput (bench/ab.py, 10 rounds).
                if (wait := last_sealed + self._linger - clock()) > 0:
                    await asyncio.sleep(wait)
            last_sealed = clock()
            try:
                # Woken by a commit (or after a full batch), there is work: skip the idle check.
                count = await self._seal_batch(known_pending=woken)
                failures = 0
            except LeaseLost:
                raise
            except Exception:
                failures += 1
                _log.exception("sealing failed; retrying")
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                continue
            if backlog := count >= self._batch_size:
                woken = True
                continue
            # The outbox wakes us after its transaction commits (HostTransaction.after_commit); the poll
            # finds what other processes wrote.
            woken = await self._wakeup.wait(self._poll_interval)

    async def _renew_loop(self) -> None:
        interval = self._lease.ttl / 3
        last_renewed = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.transactions.write() as conn:
                    await self._lease.fence(conn)
                last_renewed = asyncio.get_running_loop().time()
            except LeaseLost:
                raise
            except Exception:
                _log.warning("lease renewal failed", exc_info=True)
                if asyncio.get_running_loop().time() - last_renewed > self._lease.ttl:
                    raise LeaseLost(self._lease.name) from None

    async def _every(self, interval: float, job: Callable[[], Awaitable[int]], name: str) -> None:
        while True:
            try:
                await job()
            except LeaseLost:
                raise
            except Exception:
                _log.exception(f"{name} failed")
            await asyncio.sleep(interval)

    async def _supervise(self, stage: Stage) -> None:
        delay = 1.0
        while True:
            try:
                await stage(self.context)
                return
            except LeaseLost:
                raise
            except Exception:
                _log.exception("relay stage failed; restarting", stage=getattr(stage, "__name__", repr(stage)))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _signing_key(self) -> CheckpointKey:
        if self._key is None:
            self._key = await load_signing_key(self.transactions, self._secret_key)
        return self._key

    async def _farewell(self) -> None:
        try:
            await self.drain()
            await self.checkpoint()
            if self._prune_interval is not None:
                await self.prune()
        except LeaseLost:
            return
        async with self.transactions.write() as conn:
            await self._lease.release(conn)


async def prune_outbox_forever(transactions: Transactions, *, interval: float = 1.0) -> None:
    """For a host whose sealer runs in another process (``Relay(prune_interval=None)`` there):
    delete what it sealed from the outbox every ``interval`` seconds, until cancelled. The
    host's own write transactions take only the main database's lock, which the sealer never
    waits on."""
    while True:
        try:
            async with transactions.write() as conn:
                await prune_outbox(conn)
        except Exception:
            _log.warning("outbox pruning failed", exc_info=True)
        await asyncio.sleep(interval)
