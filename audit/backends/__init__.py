"""One :class:`Backend` per engine, chosen once: :func:`backend_for`.

The functions below are shorthands for the backend of a connection's engine, for code that holds
only a connection (the relay, verification, tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from .base import Backend, OutboxValues
from .postgresql import PostgreSQLBackend
from .sqlite import SQLiteBackend

if TYPE_CHECKING:
    from ..sealing import SealResult

__all__ = [
    "Backend",
    "OutboxValues",
    "PostgreSQLBackend",
    "SQLiteBackend",
    "backend_for",
    "has_pending",
    "lock_log",
    "prune_outbox",
    "seal_pending",
    "unsealed",
]


class _Bound(Protocol):
    """An engine or a connection, sync or async: anything with a dialect."""

    @property
    def dialect(self) -> Dialect: ...


_BACKENDS: dict[str, Backend] = {b.name: b for b in (SQLiteBackend(), PostgreSQLBackend())}


def backend_for(bind: _Bound | str) -> Backend:
    """The backend for an engine, a connection, or a dialect name (``"sqlite"``, ``"postgresql"``)."""
    name = bind if isinstance(bind, str) else bind.dialect.name
    try:
        return _BACKENDS[name]
    except KeyError:
        raise LookupError(f"audit runs on SQLite and PostgreSQL, not {name!r}") from None


async def seal_pending(conn: AsyncConnection, *, limit: int = 500) -> SealResult:
    """Seal up to ``limit`` outbox rows, oldest first (see :meth:`Backend.seal_pending`)."""
    return await backend_for(conn).seal_pending(conn, limit=limit)


def unsealed(conn: AsyncConnection) -> ColumnElement[bool]:
    """The condition on outbox rows that selects those still waiting to be sealed."""
    return backend_for(conn).unsealed()


async def has_pending(conn: AsyncConnection) -> bool:
    """Whether any recorded event waits to be sealed."""
    return await backend_for(conn).has_pending(conn)


async def prune_outbox(conn: AsyncConnection) -> int:
    """Delete what the sealer sealed but left in the outbox (SQLite); returns how many rows went."""
    return await backend_for(conn).prune_outbox(conn)


async def lock_log(conn: AsyncConnection) -> None:
    """Take the sealed log's write lock now, in a host write transaction that will write to it."""
    await backend_for(conn).lock_log(conn)
