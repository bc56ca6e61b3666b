"""Writing an event into the caller's transaction, without ever failing the caller."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .events import EventDraft
from .metrics import OUTBOX_FAILURES
from .redaction import to_canonical
from .signals import OUTBOX_WRITTEN
from .tables import OUTBOX
from .transactions import AFTER_COMMIT

__all__ = ["after_commit", "record", "record_many"]

_log = structlog.get_logger("audit.outbox")
_outbox = OUTBOX
_insert_one = insert(_outbox)
#: Up to this many events go in one statement on SQLite (3 parameters each, far below its limit).
_SQLITE_SINGLE_STATEMENT_ROWS = 1000


async def record(conn: AsyncConnection, draft: EventDraft) -> None:
    """Record one event in the caller's open transaction (see :func:`record_many`)."""
    await record_many(conn, (draft,))


async def record_many(conn: AsyncConnection, drafts: Sequence[EventDraft]) -> None:
    """Insert events in the caller's open transaction, all or none of them.

    A failure to build or insert the events rolls back only their insert (a savepoint, or on
    SQLite a single statement): the business change still commits, and the failure is logged
    and counted. If the caller's transaction rolls
    back, the events go with it. Never raises (except on cancellation).
    """
    if not drafts:
        return
    try:
        rows = [_row(d) for d in drafts]
    except Exception:
        _failed(drafts, "build")
        return
    try:
        if conn.dialect.name == "sqlite" and len(rows) == 1:
            # SQLite undoes a failed statement and nothing else, so one INSERT is already
            # all-or-nothing within the caller's transaction: a savepoint would add two round
            # trips to the driver's thread, more than the insert itself costs.
            await conn.execute(_insert_one, rows[0])
        elif conn.dialect.name == "sqlite" and len(rows) <= _SQLITE_SINGLE_STATEMENT_ROWS:
            # Several rows as one multi-row statement, atomic for the same reason.
            await conn.execute(insert(_outbox).values(rows))
        else:
            # PostgreSQL aborts the whole transaction on any error, unless it is in a savepoint.
            async with conn.begin_nested():
                await conn.execute(insert(_outbox), rows)
    except Exception:
        _failed(drafts, "insert")
        return
    after_commit(conn, OUTBOX_WRITTEN.notify)


def after_commit(conn: AsyncConnection, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the caller's transaction has committed.

    The host's :class:`~audit.transactions.Transactions` runs the callbacks it finds under
    ``conn.info["after_commit"]`` after a successful commit and drops them on rollback. Waking the
    sealer only then means it never wakes to an outbox whose rows are not yet visible; a host that
    does not run them still has its events sealed, by the relay's poll.
    """
    callbacks: list[Callable[[], None]] = conn.info.setdefault(AFTER_COMMIT, [])
    if callback not in callbacks:
        callbacks.append(callback)


def _row(draft: EventDraft) -> dict[str, Any]:
    event = to_canonical(draft)
    return {"event_id": event["id"], "organization": event["organization"], "payload": event}


def _failed(drafts: Sequence[EventDraft], stage: str) -> None:
    OUTBOX_FAILURES.inc(len(drafts))
    _log.exception("audit event not recorded", stage=stage, actions=[d.action for d in drafts])
