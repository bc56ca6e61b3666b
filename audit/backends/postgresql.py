"""PostgreSQL: one database, statements through SQLAlchemy, the sealer deletes what it seals
(:mod:`audit.sealing.delete_as_sealed`, which says why), and the database keeps the full-text
(GIN) index itself."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..host import HostTransaction
from ..sealing import DeletingSealer
from ..tables import OUTBOX
from ._shared import SealingOperations
from .base import OutboxValues

__all__ = ["PostgreSQLBackend"]

_INSERT = insert(OUTBOX)


class PostgreSQLBackend(SealingOperations):
    name = "postgresql"

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(DeletingSealer())

    async def insert_outbox(
        self, conn: AsyncConnection, transaction: HostTransaction | None, rows: Sequence[OutboxValues]
    ) -> None:
        # PostgreSQL aborts the whole transaction on any error, unless it is in a savepoint.
        async with conn.begin_nested():
            await conn.execute(_INSERT, list(rows))

    async def lock_log(self, conn: AsyncConnection) -> None:
        """One database: the host's write transaction takes row locks as it goes; nothing to do."""

    async def has_unindexed(self, conn: AsyncConnection) -> bool:
        return False

    async def index_sealed(self, conn: AsyncConnection, *, limit: int) -> int:
        return 0

    async def rewind_index_after_purge(self, conn: AsyncConnection) -> None:
        """The GIN index follows deletes by itself."""
