"""Prometheus collectors for the audit pipeline, on registries of their own.

The host serves :func:`exposition` at ``/metrics`` after awaiting :func:`refresh`, which reads
the gauges that live in the database (outbox depth, each stream's lag) at scrape time.

What the relay counts (sealing, deliveries) is on :data:`RELAY_REGISTRY`. When the relay runs in
another process, that process writes :func:`relay_exposition` to a file now and then
(``scimtrail relay --metrics-file``) and the host serves the file's text in place of its own,
idle, relay collectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

from .tables import OUTBOX

if TYPE_CHECKING:
    from .host import Transactions

__all__ = [
    "CONTENT_TYPE",
    "DELIVERED_BATCHES",
    "DELIVERED_EVENTS",
    "DELIVERY_FAILURES",
    "DELIVERY_SECONDS",
    "EVENTS_SEALED",
    "SEAL_LAG_SECONDS",
    "OUTBOX_DEPTH",
    "OUTBOX_FAILURES",
    "REGISTRY",
    "RELAY_REGISTRY",
    "relay_exposition",
    "STREAM_LAG_EVENTS",
    "STREAM_LAG_SECONDS",
    "exposition",
    "refresh",
]

REGISTRY = CollectorRegistry()
#: Counted wherever the relay runs.
RELAY_REGISTRY = CollectorRegistry()
CONTENT_TYPE = CONTENT_TYPE_LATEST

DELIVERED_BATCHES = Counter(
    "scimtrail_stream_deliveries", "Batches a log stream delivered.", ["stream", "type"], registry=RELAY_REGISTRY
)
DELIVERED_EVENTS = Counter(
    "scimtrail_stream_events_delivered", "Events a log stream delivered.", ["stream", "type"], registry=RELAY_REGISTRY
)
DELIVERY_FAILURES = Counter(
    "scimtrail_stream_failures",
    "Sends that did not deliver, by outcome (retry, rejected).",
    ["stream", "type", "outcome"],
    registry=RELAY_REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "scimtrail_stream_send_seconds",
    "Time one send to a receiver took, whatever its outcome.",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=RELAY_REGISTRY,
)
STREAM_LAG_EVENTS = Gauge(
    "scimtrail_stream_lag_events", "Sealed events a stream has yet to deliver.", ["stream"], registry=REGISTRY
)
STREAM_LAG_SECONDS = Gauge(
    "scimtrail_stream_lag_seconds",
    "Age of the oldest event a stream has yet to deliver.",
    ["stream"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge("scimtrail_audit_outbox_depth", "Recorded events waiting to be sealed.", registry=REGISTRY)

OUTBOX_FAILURES = Counter(
    "scimtrail_audit_record_failures",
    "Audit events that could not be recorded (the change committed).",
    registry=REGISTRY,
)
EVENTS_SEALED = Counter(
    "scimtrail_audit_events_sealed", "Events sealed into the hash-chained log.", registry=RELAY_REGISTRY
)
SEAL_LAG_SECONDS = Histogram(
    "scimtrail_audit_seal_lag_seconds",
    "From an event's occurrence to its sealing into the log.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60),
    registry=RELAY_REGISTRY,
)


async def refresh(transactions: Transactions) -> None:
    """Read outbox depth and per-stream lag from the database into their gauges."""
    # Imported here: the streams package builds on the relay, which reports into this module.
    from .backends import unsealed
    from .streams.model import Stream, lag
    from .streams.tables import STREAMS

    async with transactions.read() as conn:
        depth = (await conn.execute(select(func.count()).select_from(OUTBOX).where(unsealed(conn)))).scalar_one()
        OUTBOX_DEPTH.set(depth)
        # Start from empty, so deleted streams drop out of the exposition.
        STREAM_LAG_EVENTS.clear()
        STREAM_LAG_SECONDS.clear()
        for row in await conn.execute(select(STREAMS)):
            stream = Stream.from_row(row)
            events, seconds = await lag(conn, stream)
            STREAM_LAG_EVENTS.labels(stream.id).set(events)
            STREAM_LAG_SECONDS.labels(stream.id).set(seconds)


def exposition(relay: bytes | None = None) -> bytes:
    """The collectors in Prometheus text format; serve with ``CONTENT_TYPE``. ``relay`` is the
    relay's own exposition when it runs in another process (this one's relay collectors are idle
    then, and left out)."""
    return generate_latest(REGISTRY) + (generate_latest(RELAY_REGISTRY) if relay is None else relay)


def relay_exposition() -> bytes:
    """What this process's relay counted, in Prometheus text format."""
    return generate_latest(RELAY_REGISTRY)
