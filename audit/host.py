"""The one seam between the audit package and the application that hosts it.

A host gives audit its transactions (:class:`AuditHost`) and, on each write transaction it opens,
tells audit what it needs to know about it (:class:`HostTransaction`, attached with
:func:`attach`). Everything else audit does is chosen once per engine (:mod:`audit.backends`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Final, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from .events import EventDraft

__all__ = ["AuditHost", "HostTransaction", "Transactions", "attach", "detach", "sqlite3_of", "transaction_of"]


class HostTransaction:
    """What audit knows about one of the host's write transactions.

    ``sqlite``: the ``sqlite3.Connection`` the transaction runs on (SQLite only). Recording and
    sealing run for every event; through SQLAlchemy's execution machinery a small INSERT costs
    about 50 µs of CPU, sent straight to sqlite3 about 6 µs. With it they do the latter, inside
    the same transaction; without it recording goes through SQLAlchemy, and SQLite's sealer,
    which needs it, asks the driver. The host must never let SQLAlchemy's view of the
    transaction drift from SQLite's: statements sent this way leave no transaction state behind.

    ``pending``: a list the host offers if it will write the transaction's events itself just
    before it commits (SQLite group commit): recording then only appends each call's drafts
    here, and the host must hand everything collected to :func:`audit.write_pending`, in the
    same transaction, just before COMMIT; a unit of work that rolls back drops its drafts. A host
    that commits many small transactions together then builds and inserts their events in one
    pass, which costs far less than one pass per request.

    ``after_commit``: callbacks the host runs once the transaction has committed (and drops on
    rollback). The outbox wakes the sealer with one, so that it never wakes to rows not yet visible.
    """

    # Slots, not a dataclass: the host builds one per unit of work, on the hot path.
    __slots__ = ("sqlite", "pending", "after_commit")

    def __init__(
        self,
        sqlite: sqlite3.Connection | None = None,
        *,
        pending: list[Sequence[EventDraft]] | None = None,
    ) -> None:
        self.sqlite = sqlite
        self.pending = pending
        self.after_commit: list[Callable[[], None]] = []

    def run_after_commit(self) -> None:
        """Run and forget the after-commit callbacks (the host calls this once it has committed)."""
        callbacks, self.after_commit = self.after_commit, []
        for callback in callbacks:
            callback()


#: Where :func:`attach` keeps the transaction's :class:`HostTransaction` in ``conn.info``: an
#: object, not a string, so nothing outside this module can name it.
_KEY: Final = object()


def attach(conn: AsyncConnection, transaction: HostTransaction) -> HostTransaction:
    """Tell audit about the write transaction open on ``conn`` until :func:`detach`.

    ``conn.info`` outlives the checkout (it belongs to the pooled connection), so a host must
    detach before the connection goes back to the pool, or readers would see a writer's state.
    """
    conn.info[_KEY] = transaction
    return transaction


def detach(conn: AsyncConnection) -> HostTransaction | None:
    """Forget what :func:`attach` attached to ``conn``; returns it, so the host can run its callbacks."""
    transaction: HostTransaction | None = conn.info.pop(_KEY, None)
    return transaction


def transaction_of(conn: AsyncConnection) -> HostTransaction | None:
    """The :class:`HostTransaction` attached to ``conn``, if the host attached one."""
    transaction: HostTransaction | None = conn.info.get(_KEY)
    return transaction


async def sqlite3_of(conn: AsyncConnection) -> sqlite3.Connection:
    """The ``sqlite3`` connection a SQLite transaction runs on: the one the host attached, else
    the driver's own if it is one (SQLAlchemy's ``pysqlite``-based drivers)."""
    if (transaction := transaction_of(conn)) is not None and transaction.sqlite is not None:
        return transaction.sqlite
    driver = (await conn.get_raw_connection()).driver_connection
    if isinstance(driver, sqlite3.Connection):
        return driver
    # The log's watermark is only moved on sqlite3 directly: an async driver's connection lives
    # behind its own interface, so the host must say which sqlite3 connection it runs on.
    raise RuntimeError("this SQLite host must attach its sqlite3 connection (audit.HostTransaction(sqlite=...))")


class Transactions(Protocol):
    """Opens transactions on the host's engine: what audit's reading and configuring code needs.

    ``write()`` is one write transaction, committed when the block ends and rolled back if it
    raises; on SQLite the host serialises writers in-process, so every audit write goes through
    it rather than opening its own connection. The host attaches a :class:`HostTransaction` to
    each (at least to run ``after_commit``). ``read()`` is one consistent read snapshot.
    """

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


class AuditHost(Transactions, Protocol):
    """A host the relay can run on: :class:`Transactions` plus ``seal()``.

    ``seal()`` is a write transaction that may read anything and writes only the sealed log's
    tables. On SQLite, where the log is a file of its own (:data:`audit.schema.LOG_SCHEMA`), it
    should lock that file alone (begin with :data:`audit.schema.LOCK_LOG`, on a connection
    outside the host's writers), so sealing and the host's writes never wait on each other; a
    host with one database file (PostgreSQL, in-memory SQLite) returns ``write()``.
    """

    def seal(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
