"""Relay stage 2: every log stream ships the sealed events after its cursor to its sink.

One task per deliverable stream, each with its own HTTP client, so a slow or broken receiver
only ever holds up its own stream. A worker reads a batch after the cursor, sends it, and moves
the cursor only when the sink says :class:`Delivered`. The other two ends of a send:

- :class:`Retry` — the same batch again after a full-jitter exponential backoff, and never
  sooner than the receiver's ``Retry-After``;
- :class:`Rejected` — ``BATCH``: the batch goes to the dead-letter table, the cursor moves on and
  the stream is marked ``failing``; ``STREAM``: the cursor holds and the stream is ``failing``;
  ``GONE``: the stream is disabled at once.

A stream that has been failing for longer than ``disable_after`` is disabled, and
``log_stream.disabled`` is recorded in its organisation's audit log. Delivery is at-least-once:
a crash between a send and the cursor update sends the batch again, under the same batch id.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy import case, func, insert, select, update

from ..events import Actor, EventDraft, Target
from ..formats import encode_native
from ..host import Transactions
from ..metrics import DELIVERED_BATCHES, DELIVERED_EVENTS, DELIVERY_FAILURES, DELIVERY_SECONDS, STREAM_LAG_EVENTS
from ..outbox import record
from ..signals import Signal
from ..streams.crypto import SecretBox
from ..streams.model import SealedEventView, Stream, build_sink, now, read_events, sink_client
from ..streams.tables import DEAD_LETTERS, STREAMS
from .runner import RelayContext
from .sinks import Batch, Delivered, DestinationPolicy, Outcome, Rejected, RejectScope, Retry, Sink, get_sink

__all__ = ["DeliverySettings", "DeliveryStage"]

_log = structlog.get_logger("audit.relay.delivery")
_streams = STREAMS
_dead_letters = DEAD_LETTERS
_RELAY_ACTOR = Actor(type="system", name="relay")


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    #: Most events per batch (each sink may allow fewer).
    batch_size: int = 1000
    #: How long an idle stream waits for news of sealed events before looking anyway.
    poll_interval: float = 1.0
    #: After idling, how long a woken stream waits for more events to join its batch: one
    #: request and one cursor write per linger, not per event, at a small cost in lag.
    linger: float = 0.1
    #: How often the set of running workers is reconciled with the streams table.
    refresh_interval: float = 2.0
    #: Connect/read/write timeout of one request to a receiver.
    request_timeout: float = 15.0
    #: Full-jitter backoff: attempt n waits uniform(0, min(cap, base·2ⁿ)) seconds.
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    #: Longest ``Retry-After`` honoured as given; longer ones are cut to this.
    max_retry_after: float = 3600.0
    #: A stream failing for this long is disabled (Standard Webhooks gives up after ~3 days).
    disable_after: float = 3 * 24 * 3600.0


def backoff(attempt: int, settings: DeliverySettings, retry_after: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt`` + 1 (AWS "full jitter"), at least ``retry_after``."""
    delay = random.uniform(0, min(settings.backoff_cap, settings.backoff_base * 2 ** min(attempt, 32)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.max_retry_after))
    return delay


def _describe(exc: BaseException) -> dict[str, str]:
    """Where an unexpected error came from, without a traceback.

    Tracebacks rendered with local variables (structlog's rich console renderer does that)
    would print sink configs and request headers, secrets included.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return {"error": type(exc).__name__, "where": where}


class DeliveryStage:
    """Runs one delivery worker per deliverable stream.

    Use as a relay stage (``Relay(..., stages=[stage])``: the relay calls it with its context
    while it leads), or on its own with :meth:`run` / :meth:`stop`, or :meth:`run_once` to
    deliver what is there now and return (the CLI and tests).
    """

    def __init__(
        self,
        transactions: Transactions,
        *,
        secret_key: str | bytes,
        settings: DeliverySettings | None = None,
        destinations: DestinationPolicy | None = None,
    ) -> None:
        self._transactions = transactions
        self._box = SecretBox(secret_key)
        self.settings = settings or DeliverySettings()
        #: Where streams may send, judged at every connection (default: public addresses only).
        self._destinations = destinations or DestinationPolicy()
        self._workers: dict[str, _Worker] = {}
        self._stopping = asyncio.Event()

    async def __call__(self, context: RelayContext) -> None:
        await self.run(wakeup=context.sealed)

    async def run(self, wakeup: Signal | None = None) -> None:
        """Deliver until :meth:`stop` is called or the task is cancelled."""
        self._stopping.clear()
        last_refresh = 0.0
        try:
            while not self._stopping.is_set():
                if time.monotonic() - last_refresh >= self.settings.refresh_interval:
                    await self._reconcile()
                    last_refresh = time.monotonic()
                if wakeup is not None:
                    if await wakeup.wait(self.settings.refresh_interval):
                        self.wake()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.settings.refresh_interval)
        finally:
            await self._stop_workers()

    async def stop(self) -> None:
        self._stopping.set()
        await self._stop_workers()

    def wake(self) -> None:
        """New events were sealed: idle workers look now instead of at their next poll."""
        for worker in self._workers.values():
            worker.wakeup.set()

    async def run_once(self) -> dict[str, int]:
        """Deliver every deliverable stream's backlog, stopping a stream at its first failed send.

        Returns events delivered per stream id. Failed sends are recorded as in :meth:`run`.
        """
        delivered: dict[str, int] = {}
        for stream in await self._deliverable():
            worker = self._worker(stream.id)
            try:
                delivered[stream.id] = await worker.drain()
            finally:
                await worker.close()
        return delivered

    def _worker(self, stream_id: str) -> _Worker:
        return _Worker(stream_id, self._transactions, self._box, self.settings, self._destinations)

    async def _deliverable(self) -> list[Stream]:
        async with self._transactions.read() as conn:
            rows = await conn.execute(select(_streams).where(_streams.c.state.in_(("active", "failing"))))
            return [Stream.from_row(r) for r in rows]

    async def _reconcile(self) -> None:
        try:
            wanted = {s.id: s for s in await self._deliverable()}
        except Exception:
            _log.warning("could not read log streams", exc_info=True)
            return
        for stream_id in list(self._workers):
            worker = self._workers[stream_id]
            if stream_id not in wanted or worker.done:
                if (error := worker.error) is not None:
                    _log.error("delivery worker ended; restarting it", stream=stream_id, **_describe(error))
                await worker.close()
                del self._workers[stream_id]
            elif worker.version != wanted[stream_id].version:
                worker.changed.set()  # a changed config or a replay takes effect at once
        for stream_id in wanted.keys() - self._workers.keys():
            worker = self._worker(stream_id)
            worker.start()
            self._workers[stream_id] = worker

    async def _stop_workers(self) -> None:
        workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            await worker.close()


class _Worker:
    """Delivers one stream, one batch at a time, in sequence order."""

    def __init__(
        self,
        stream_id: str,
        transactions: Transactions,
        box: SecretBox,
        settings: DeliverySettings,
        destinations: DestinationPolicy,
    ) -> None:
        self.stream_id = stream_id
        self._transactions = transactions
        self._box = box
        self._settings = settings
        self._destinations = destinations
        self.version = 0
        #: Set when events were sealed: ends an idle wait, never a backoff.
        self.wakeup = asyncio.Event()
        #: Set when the stream was changed (config, replay, resume): ends any wait.
        self.changed = asyncio.Event()
        # A client per stream: a receiver that hangs holds only its own stream's connections.
        self._client = sink_client(destinations, settings.request_timeout, headers={"user-agent": "scimtrail-relay"})
        self._sink: Sink | None = None
        self._task: asyncio.Task[None] | None = None
        #: The batch being sent, and the cursor it was read after; kept across retries so a
        #: retry carries the very same events and id.
        self._pending: tuple[Batch, int] | None = None
        #: Set once the stream is paused, disabled or deleted: the worker ends.
        self._stream_gone = False
        self._last_delivered = 0

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    @property
    def error(self) -> BaseException | None:
        if self._task is None or not self._task.done() or self._task.cancelled():
            return None
        return self._task.exception()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"deliver:{self.stream_id}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sink is not None:
            await self._sink.aclose()
        await self._client.aclose()

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                outcome = await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.error("delivery step failed", stream=self.stream_id, **_describe(exc))
                outcome = Retry("internal error")
            if self._stream_gone:
                return
            if outcome is None:  # caught up
                attempt = 0
                await self._wait(self._settings.poll_interval, self.wakeup, self.changed)
                await asyncio.sleep(self._settings.linger)
            elif isinstance(outcome, Delivered):
                attempt = 0
                if self._pending is None:  # that was the tail: let the next events gather
                    await asyncio.sleep(self._settings.linger)
            elif isinstance(outcome, Rejected) and outcome.scope is RejectScope.BATCH:
                attempt = 0
            else:
                attempt += 1
                after = outcome.after if isinstance(outcome, Retry) else None
                # New events do not cut a backoff short; a change to the stream does.
                await self._wait(backoff(attempt, self._settings, after), self.changed)

    async def drain(self) -> int:
        """Send batches until caught up or a send fails; returns events delivered."""
        delivered = 0
        while True:
            outcome = await self._step()
            if outcome is None or isinstance(outcome, Retry):
                return delivered
            if isinstance(outcome, Rejected) and outcome.scope is not RejectScope.BATCH:
                return delivered
            if isinstance(outcome, Delivered):
                delivered += self._last_delivered

    @staticmethod
    async def _wait(seconds: float, *events: asyncio.Event) -> None:
        """Until ``seconds`` pass or one of ``events`` is set."""
        waiters = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _step(self) -> Outcome | None:
        """One send of the next batch; ``None`` when there is nothing to send."""
        # Cleared before reading, so news arriving while this step runs is not lost.
        self.wakeup.clear()
        self.changed.clear()
        transactions = self._transactions
        async with transactions.read() as conn:
            row = (await conn.execute(select(_streams).where(_streams.c.id == self.stream_id))).first()
            stream = Stream.from_row(row) if row is not None else None
            if stream is None or not stream.deliverable:
                self._stream_gone, self._pending = True, None
                return None
            if self._pending is not None and (self._pending[1] != stream.cursor or stream.version != self.version):
                self._pending = None  # replayed, refiltered or reconfigured since we read it
            limit = min(self._settings.batch_size, get_sink(stream.type).max_batch_events)
            if self._pending is None:
                events = await read_events(conn, stream, stream.cursor, limit)
                if not events:
                    STREAM_LAG_EVENTS.labels(stream.id).set(0)
                    return None
                self._pending = (Batch(stream.id, stream.organization, events), stream.cursor)
        if self._sink is None or self.version != stream.version:
            if self._sink is not None:
                await self._sink.aclose()
            self._sink = build_sink(stream, self._box, self._client, self._destinations)
            self.version = stream.version
        batch, cursor = self._pending
        # A full batch means a backlog: read the next one while this one is on the wire.
        prefetch = (
            asyncio.create_task(self._read(stream, batch.last_sequence, limit)) if len(batch.events) >= limit else None
        )
        started = time.perf_counter()
        try:
            outcome = await self._sink.send(batch)
        except Exception as exc:
            # A sink must not raise; if one does, it is our bug, and retrying may get past it.
            _log.error("sink raised", stream=stream.id, type=stream.type, **_describe(exc))
            outcome = Retry("internal error in the sink")
        DELIVERY_SECONDS.labels(stream.type).observe(time.perf_counter() - started)
        following = await self._prefetched(prefetch, keep=isinstance(outcome, Delivered))
        await self._settle(stream, batch, cursor, outcome)
        if following:
            self._pending = (Batch(stream.id, stream.organization, following), batch.last_sequence)
        return outcome

    async def _read(self, stream: Stream, after: int, limit: int) -> list[SealedEventView]:
        async with self._transactions.read() as conn:
            return await read_events(conn, stream, after, limit)

    @staticmethod
    async def _prefetched(task: asyncio.Task[list[SealedEventView]] | None, *, keep: bool) -> list[SealedEventView]:
        if task is None:
            return []
        if not keep:
            task.cancel()
            await asyncio.wait([task])  # let it give its connection back; never raises
            return []
        try:
            return await task
        except Exception as exc:
            _log.warning("prefetch failed", **_describe(exc))
            return []

    async def _settle(self, stream: Stream, batch: Batch, cursor: int, outcome: Outcome) -> None:
        if isinstance(outcome, Delivered):
            await self._advance(stream, batch, cursor)
            self._pending = None
            self._last_delivered = len(batch.events)
            DELIVERED_BATCHES.labels(stream.id, stream.type).inc()
            DELIVERED_EVENTS.labels(stream.id, stream.type).inc(len(batch.events))
            return
        label = "retry" if isinstance(outcome, Retry) else "rejected"
        DELIVERY_FAILURES.labels(stream.id, stream.type, label).inc()
        _log.warning(
            "delivery failed", stream=stream.id, type=stream.type, batch=batch.id, outcome=label, reason=outcome.reason
        )
        if isinstance(outcome, Rejected) and outcome.scope is RejectScope.GONE:
            self._pending = None
            await self._disable(stream, outcome.reason)
            return
        if isinstance(outcome, Rejected) and outcome.scope is RejectScope.BATCH:
            await self._dead_letter(stream, batch, cursor, outcome.reason)
            self._pending = None
        else:
            await self._failed(stream, outcome.reason, mark_failing=isinstance(outcome, Rejected))
        await self._disable_if_failing_too_long(stream, outcome.reason)

    async def _advance(self, stream: Stream, batch: Batch, cursor: int) -> None:
        async with self._transactions.write() as conn:
            # Conditional on the cursor we read after: an admin's replay in the meantime wins.
            await conn.execute(
                update(_streams)
                .where(_streams.c.id == stream.id, _streams.c.cursor == cursor)
                .values(
                    cursor=batch.last_sequence,
                    last_success_at=now(),
                    failing_since=None,
                    state=case((_streams.c.state == "failing", "active"), else_=_streams.c.state),
                )
            )

    async def _failed(self, stream: Stream, reason: str, *, mark_failing: bool) -> None:
        values: dict[str, Any] = {
            "last_error": reason,
            "last_error_at": now(),
            "failing_since": func.coalesce(_streams.c.failing_since, now()),
        }
        if mark_failing:
            values["state"] = case((_streams.c.state == "active", "failing"), else_=_streams.c.state)
        async with self._transactions.write() as conn:
            await conn.execute(update(_streams).where(_streams.c.id == stream.id).values(**values))

    async def _dead_letter(self, stream: Stream, batch: Batch, cursor: int, reason: str) -> None:
        async with self._transactions.write() as conn:
            moved = await conn.execute(
                update(_streams)
                .where(_streams.c.id == stream.id, _streams.c.cursor == cursor)
                .values(
                    cursor=batch.last_sequence,
                    last_error=reason,
                    last_error_at=now(),
                    failing_since=func.coalesce(_streams.c.failing_since, now()),
                    state=case((_streams.c.state == "active", "failing"), else_=_streams.c.state),
                )
            )
            if moved.rowcount:
                await conn.execute(
                    insert(_dead_letters).values(
                        stream_id=stream.id,
                        organization=stream.organization,
                        batch_id=batch.id,
                        first_sequence=batch.first_sequence,
                        last_sequence=batch.last_sequence,
                        reason=reason,
                        events=orjson.dumps([encode_native(event) for event in batch.events]).decode(),
                        created_at=now(),
                    )
                )

    async def _disable_if_failing_too_long(self, stream: Stream, reason: str) -> None:
        async with self._transactions.read() as conn:
            since = (
                await conn.execute(select(_streams.c.failing_since).where(_streams.c.id == stream.id))
            ).scalar_one_or_none()
        if since is None:
            return
        failing_for = (datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds()
        if failing_for >= self._settings.disable_after:
            await self._disable(stream, f"failing for {int(failing_for)} s; last error: {reason}")

    async def _disable(self, stream: Stream, reason: str) -> None:
        async with self._transactions.write() as conn:
            changed = await conn.execute(
                update(_streams)
                .where(_streams.c.id == stream.id, _streams.c.state.in_(("active", "failing")))
                .values(state="disabled", last_error=reason, last_error_at=now())
            )
            if changed.rowcount:
                await record(
                    conn,
                    EventDraft(
                        organization=stream.organization,
                        action="log_stream.disabled",
                        actor=_RELAY_ACTOR,
                        targets=(Target(type="log_stream", name=stream.name),),
                        metadata={"reason": reason[:500], "type": stream.type},
                    ),
                )
        self._stream_gone = True
        _log.warning("log stream disabled", stream=stream.id, type=stream.type, reason=reason)
