"""Per-organisation retention and the purge: the one way sealed events ever leave the log.

The purge removes a prefix of an organisation's chain (events older than its window), records
the last removed event's hash as the chain's new anchor, and records ``audit_log.purged``; so the
remaining log still verifies from its new oldest event, and the purge itself is on the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .backends import backend_for
from .errors import RetentionError
from .events import Actor, EventDraft, RequestContext, format_timestamp
from .host import Transactions
from .outbox import record
from .tables import CHAINS, EVENTS, PURGE_GUARD, RETENTION

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "MIN_RETENTION_DAYS",
    "MAX_RETENTION_DAYS",
    "RetentionError",
    "RetentionPolicy",
    "PurgeResult",
    "get_retention",
    "set_retention",
    "purge_expired",
]

DEFAULT_RETENTION_DAYS = 90
MIN_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 3650
#: Who the purge's own audit event names as its actor.
RETENTION_ACTOR = Actor(type="system", name="retention")

_log = structlog.get_logger("audit.retention")
_events = EVENTS
_chains = CHAINS
_guard = PURGE_GUARD
_retention = RETENTION

Fence = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    organization: str
    days: int
    is_default: bool


@dataclass(frozen=True, slots=True)
class PurgeResult:
    organization: str
    #: The last purged sequence: the chain's new anchor.
    through_sequence: int
    purged: int


async def get_retention(conn: AsyncConnection, organization: str) -> RetentionPolicy:
    row = (await conn.execute(select(_retention.c.days).where(_retention.c.organization == organization))).first()
    if row is None:
        return RetentionPolicy(organization, DEFAULT_RETENTION_DAYS, is_default=True)
    return RetentionPolicy(organization, row.days, is_default=False)


def _validated(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int):
        raise RetentionError("retention days must be a whole number")
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise RetentionError(f"retention must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days")
    return days


async def set_retention(
    transactions: Transactions,
    organization: str,
    days: object,
    *,
    actor: Actor,
    context: RequestContext | None = None,
) -> RetentionPolicy:
    """Set an organisation's window (30–3650 days), recorded as ``retention_policy.updated``."""
    days = _validated(days)
    async with transactions.write() as conn:
        previous = await get_retention(conn, organization)
        stamp = format_timestamp(datetime.now(UTC))
        if previous.is_default:
            await conn.execute(insert(_retention).values(organization=organization, days=days, updated_at=stamp))
        else:
            await conn.execute(
                update(_retention).where(_retention.c.organization == organization).values(days=days, updated_at=stamp)
            )
        await record(
            conn,
            EventDraft(
                organization=organization,
                action="retention_policy.updated",
                actor=actor,
                targets=(),
                context=context or RequestContext(),
                metadata={"retention_days": days, "previous_retention_days": previous.days},
            ),
        )
    return RetentionPolicy(organization, days, is_default=False)


async def purge_expired(
    transactions: Transactions, *, now: datetime | None = None, fence: Fence | None = None
) -> list[PurgeResult]:
    """Purge every organisation's events past its window, one transaction per organisation.

    ``fence`` runs first in each transaction (the relay passes its lease check), so a purge never
    moves an anchor under a sealer that does not know about it.
    """
    now = now or datetime.now(UTC)
    async with transactions.read() as conn:
        organizations = [r.organization for r in await conn.execute(select(_chains.c.organization))]
    results = []
    for organization in organizations:
        async with transactions.write() as conn:
            if fence is not None:
                await fence(conn)
            await backend_for(conn).lock_log(conn)
            result = await _purge_one(conn, organization, now)
        if result is not None:
            _log.info("audit events purged", organization=organization, events=result.purged)
            results.append(result)
    return results


async def _purge_one(conn: AsyncConnection, organization: str, now: datetime) -> PurgeResult | None:
    chain = (await conn.execute(select(_chains).where(_chains.c.organization == organization))).one()
    policy = await get_retention(conn, organization)
    cutoff = format_timestamp(now - timedelta(days=policy.days))
    first_kept = (
        await conn.execute(
            select(func.min(_events.c.sequence)).where(
                _events.c.organization == organization, _events.c.occurred_at >= cutoff
            )
        )
    ).scalar()
    # A prefix of the chain only: an old event sealed late stays until everything before it goes.
    through = chain.last_sequence if first_kept is None else first_kept - 1
    if through <= chain.anchor_sequence:
        return None
    anchor_hash = (
        await conn.execute(
            select(_events.c.hash).where(_events.c.organization == organization, _events.c.sequence == through)
        )
    ).scalar()
    if anchor_hash is None:
        _log.error("retention purge skipped: chain has a hole", organization=organization, sequence=through)
        return None
    await conn.execute(
        update(_guard).where(_guard.c.id == 1).values(organization=organization, through_sequence=through)
    )
    purged = await conn.execute(
        delete(_events).where(and_(_events.c.organization == organization, _events.c.sequence <= through))
    )
    await conn.execute(update(_guard).where(_guard.c.id == 1).values(organization=None, through_sequence=None))
    await backend_for(conn).rewind_index_after_purge(conn)
    await conn.execute(
        update(_chains)
        .where(_chains.c.organization == organization)
        .values(anchor_sequence=through, anchor_hash=anchor_hash)
    )
    result = PurgeResult(organization, through, purged.rowcount)
    await record(
        conn,
        EventDraft(
            organization=organization,
            action="audit_log.purged",
            actor=RETENTION_ACTOR,
            metadata={
                "through_sequence": through,
                "purged_events": result.purged,
                "retention_days": policy.days,
                "cutoff": cutoff,
            },
        ),
    )
    return result
