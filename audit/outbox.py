"""Writing an event into the caller's transaction, without ever failing the caller."""

from __future__ import annotations

import structlog
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .events import EventDraft
from .redaction import to_canonical
from .tables import OutboxRow

__all__ = ["record", "record_many", "OUTBOX_FAILURES"]

_log = structlog.get_logger("audit.outbox")
_outbox = OutboxRow.__table__

#: Events that could not be recorded since the process started (exported as a metric).
OUTBOX_FAILURES = {"count": 0}


async def record(conn: AsyncConnection, draft: EventDraft) -> None:
    await record_many(conn, (draft,))


async def record_many(conn: AsyncConnection, drafts: tuple[EventDraft, ...] | list[EventDraft]) -> None:
    """Insert events in the caller's open transaction, inside a savepoint.

    A failure to build or insert an event rolls back only the savepoint: the business change
    still commits, and the failure is logged and counted. If the caller's transaction rolls
    back, the events go with it.
    """
    if not drafts:
        return
    try:
        rows = [_row(d) for d in drafts]
    except Exception:
        _failed(drafts, "build")
        return
    try:
        async with conn.begin_nested():
            await conn.execute(insert(_outbox), rows)
    except Exception:
        _failed(drafts, "insert")


def _row(draft: EventDraft) -> dict[str, object]:
    event = to_canonical(draft)
    return {"event_id": event["id"], "organization": event["organization"], "payload": event}


def _failed(drafts: tuple[EventDraft, ...] | list[EventDraft], stage: str) -> None:
    OUTBOX_FAILURES["count"] += len(drafts)
    _log.exception("audit event not recorded", stage=stage, actions=[d.action for d in drafts])
