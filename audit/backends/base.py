"""The operations audit runs differently on each engine, behind one protocol.

A :class:`Backend` is chosen once per engine (:func:`audit.backends.backend_for`) and holds no
state: the host's transaction is always passed in. Engine differences live in the backend
modules, not as ``if dialect`` branches in the code that records, seals or prunes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection

from ..host import HostTransaction
from ..sealing import Sealer, SealResult

__all__ = ["Backend", "OutboxValues"]

#: One outbox row as the outbox builds it: ``event_id``, ``organization`` and ``payload`` (the
#: canonical event, a dict).
OutboxValues = dict[str, Any]


class Backend(Protocol):
    """What audit does on one engine: record in the caller's transaction, seal, lock, prune."""

    #: The SQLAlchemy dialect name this backend serves.
    name: str
    #: How this engine seals, and what it leaves in the outbox.
    sealer: Sealer

    async def insert_outbox(
        self, conn: AsyncConnection, transaction: HostTransaction | None, rows: Sequence[OutboxValues]
    ) -> None:
        """Insert ``rows`` in ``conn``'s open transaction, all or none; raises if they are not.

        A failure must undo only these rows (a savepoint, or a single statement where the engine
        undoes a failed statement alone), never the caller's transaction.
        """
        ...

    async def lock_log(self, conn: AsyncConnection) -> None:
        """Take the sealed log's write lock now, in a host write transaction that will write it."""
        ...

    async def seal_pending(self, conn: AsyncConnection, *, limit: int = 500) -> SealResult:
        """Seal up to ``limit`` outbox rows, oldest first (in a host ``seal()`` transaction)."""
        ...

    def unsealed(self) -> ColumnElement[bool]:
        """The condition on outbox rows that selects those still waiting to be sealed."""
        ...

    async def has_pending(self, conn: AsyncConnection) -> bool:
        """Whether any recorded event waits to be sealed: a read, so an idle relay never writes."""
        ...

    async def prune_outbox(self, conn: AsyncConnection) -> int:
        """Delete what the sealer sealed but left in the outbox; returns how many rows went."""
        ...

    async def has_unindexed(self, conn: AsyncConnection) -> bool:
        """Whether any sealed event waits for the full-text index (a read)."""
        ...

    async def index_sealed(self, conn: AsyncConnection, *, limit: int) -> int:
        """Add up to ``limit`` sealed events to the full-text index, in a ``seal()`` transaction."""
        ...

    async def rewind_index_after_purge(self, conn: AsyncConnection) -> None:
        """Keep the full-text index's bookkeeping right after a retention purge, in its transaction."""
        ...
