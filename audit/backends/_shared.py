"""What both backends do the same way, written once."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..sealing import Sealer, SealResult
from ..tables import OUTBOX

__all__ = ["SealingOperations"]


class SealingOperations:
    """The sealing half of a :class:`~audit.backends.Backend`, delegated to its :class:`Sealer`."""

    __slots__ = ("sealer", "_any_pending")

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer
        # Built once: the relay asks on every poll.
        self._any_pending = select(OUTBOX.c.pk).where(sealer.unsealed()).limit(1)

    async def seal_pending(self, conn: AsyncConnection, *, limit: int = 500) -> SealResult:
        return await self.sealer.seal(conn, limit=limit)

    def unsealed(self) -> ColumnElement[bool]:
        return self.sealer.unsealed()

    async def has_pending(self, conn: AsyncConnection) -> bool:
        return (await conn.execute(self._any_pending)).first() is not None

    async def prune_outbox(self, conn: AsyncConnection) -> int:
        return await self.sealer.prune(conn)
