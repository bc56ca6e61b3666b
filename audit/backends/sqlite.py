"""SQLite: statements straight to sqlite3 where the host offers its connection, the log in its own file.

Recording inserts into the outbox in the main file; sealing writes only the log's file and keeps
a watermark over the outbox (:mod:`audit.sealing.watermark`, which says why); sealed events join
the FTS5 indexes in bulk, behind the sealer (:mod:`audit.search_index`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import search_index
from ..host import HostTransaction, sqlite3_of
from ..schema.layout import LOCK_LOG
from ..sealing import WatermarkSealer
from ..tables import OUTBOX
from ._shared import SealingOperations
from .base import OutboxValues

__all__ = ["SQLiteBackend", "insert_rows"]

_INSERT: Final = "INSERT INTO audit_outbox (event_id, organization, payload) VALUES (?, ?, ?)"
_INSERT_ONE = insert(OUTBOX)


def insert_rows(sqlite: sqlite3.Connection, rows: Sequence[OutboxValues]) -> None:
    """Insert outbox rows straight on sqlite3, inside the caller's transaction, all or none."""
    params = [(r["event_id"], r["organization"], orjson.dumps(r["payload"]).decode()) for r in rows]
    if len(params) == 1:
        # SQLite undoes a failed statement and nothing else: one INSERT is all-or-nothing.
        sqlite.execute(_INSERT, params[0])
        return
    sqlite.execute("SAVEPOINT audit_outbox")
    try:
        sqlite.executemany(_INSERT, params)
    except BaseException:
        sqlite.execute("ROLLBACK TO audit_outbox")
        sqlite.execute("RELEASE audit_outbox")
        raise
    sqlite.execute("RELEASE audit_outbox")


class SQLiteBackend(SealingOperations):
    name = "sqlite"

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(WatermarkSealer())

    async def insert_outbox(
        self, conn: AsyncConnection, transaction: HostTransaction | None, rows: Sequence[OutboxValues]
    ) -> None:
        if transaction is not None and transaction.sqlite is not None:
            insert_rows(transaction.sqlite, rows)
        elif len(rows) == 1:
            # SQLite undoes a failed statement and nothing else: one INSERT is all-or-nothing.
            await conn.execute(_INSERT_ONE, rows[0])
        else:
            async with conn.begin_nested():
                await conn.execute(_INSERT_ONE, rows)

    async def lock_log(self, conn: AsyncConnection) -> None:
        """The log is a file the host's write transaction does not lock up front; one that reads
        the log and then writes it could find that the sealer committed in between and fail
        (``SQLITE_BUSY_SNAPSHOT``). Taking the log's lock first rules that out."""
        (await sqlite3_of(conn)).execute(LOCK_LOG)

    async def has_unindexed(self, conn: AsyncConnection) -> bool:
        return await search_index.has_unindexed(conn)

    async def index_sealed(self, conn: AsyncConnection, *, limit: int) -> int:
        return await search_index.index_sealed(conn, limit=limit)

    async def rewind_index_after_purge(self, conn: AsyncConnection) -> None:
        await search_index.rewind_after_purge(conn)
