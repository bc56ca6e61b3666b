"""Reading the sealed log back: an organisation's events in order, one event, every chain's head.

Functions here take an open connection and run inside the caller's transaction.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .chain import ChainHead, with_hash
from .tables import CHAINS, EVENTS

__all__ = ["EVENT_COLUMNS", "SealedEvent", "chain_heads", "read_event", "read_sealed"]

_events = EVENTS
_chains = CHAINS

#: The columns a :class:`SealedEvent` is built from, in its field order.
EVENT_COLUMNS = (
    _events.c.organization,
    _events.c.sequence,
    _events.c.event_id,
    _events.c.action,
    _events.c.category,
    _events.c.occurred_at,
    _events.c.body,
    _events.c.prev_hash,
    _events.c.hash,
)


class SealedEvent(NamedTuple):
    """A sealed event as stored: ``json()`` is the canonical event that exports and sinks carry.

    A named tuple rather than a frozen dataclass: exports build millions of these, and a tuple
    is several times cheaper to construct.
    """

    organization: str
    sequence: int
    event_id: str
    action: str
    category: str
    occurred_at: str
    body: str
    prev_hash: str
    hash: str

    def json(self) -> str:
        return with_hash(self.body, self.hash)

    def as_dict(self) -> dict[str, Any]:
        event: dict[str, Any] = orjson.loads(self.body)
        event["hash"] = self.hash
        return event

    @classmethod
    def from_row(cls, row: Row[*tuple[Any, ...]]) -> SealedEvent:
        """From a row selected with :data:`EVENT_COLUMNS` (positional: exports build millions)."""
        return cls._make(row)


async def read_sealed(
    conn: AsyncConnection, organization: str, *, after_sequence: int = 0, limit: int = 500
) -> list[SealedEvent]:
    """An organisation's sealed events after ``after_sequence``, in sequence order (for delivery)."""
    rows = await conn.execute(
        select(*EVENT_COLUMNS)
        .where(_events.c.organization == organization, _events.c.sequence > after_sequence)
        .order_by(_events.c.sequence)
        .limit(limit)
    )
    return [SealedEvent.from_row(r) for r in rows]


async def read_event(conn: AsyncConnection, organization: str, event_id: str) -> SealedEvent | None:
    """One sealed event by id, only if it belongs to ``organization``."""
    row = (
        await conn.execute(
            select(*EVENT_COLUMNS).where(_events.c.event_id == event_id, _events.c.organization == organization)
        )
    ).first()
    return SealedEvent.from_row(row) if row is not None else None


async def chain_heads(conn: AsyncConnection) -> dict[str, ChainHead]:
    """Every organisation's chain, by slug."""
    return {r.organization: ChainHead(**r._mapping) for r in await conn.execute(select(_chains))}
