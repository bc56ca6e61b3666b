"""The one seam between the audit package and the host's database: two transaction scopes."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["AFTER_COMMIT", "PENDING_EVENTS", "SQLITE_CONNECTION", "Transactions"]

#: Key in ``conn.info`` of a list of callables the host runs after a successful commit of the
#: transaction (and drops on rollback). The outbox uses it to wake the sealer only once its rows
#: are visible.
AFTER_COMMIT = "scimtrail.after_commit"

#: Key in ``conn.info`` of the ``sqlite3.Connection`` a SQLite write transaction runs on, if the
#: host exposes it. Recording and sealing run for every event; through SQLAlchemy's execution
#: machinery a small INSERT costs about 50 µs of CPU, sent straight to sqlite3 about 6 µs. With
#: the key present they do the latter, inside the same transaction; without it (PostgreSQL, or a
#: host that does not offer it) they go through SQLAlchemy. The host must only expose it on a
#: connection inside a write transaction it controls, and must never let SQLAlchemy's view of the
#: transaction drift from SQLite's: statements sent this way leave no transaction state behind.
SQLITE_CONNECTION = "scimtrail.sqlite_connection"

#: Key in ``conn.info`` of a list a host may offer on its SQLite write transactions (together
#: with :data:`SQLITE_CONNECTION`). When it is there, ``record`` appends its drafts to it instead
#: of writing them, and the host must hand everything collected to ``audit.write_pending``, in
#: the same transaction, just before it commits; a unit of work that rolls back drops its drafts.
#: A host that commits many small transactions together (SQLite group commit) then builds and
#: inserts their events in one pass, which costs far less than one pass per request.
PENDING_EVENTS = "scimtrail.pending_events"


class Transactions(Protocol):
    """Opens transactions on the host's engine.

    ``write()`` is one write transaction, committed when the block ends and rolled back if it
    raises; on SQLite the host serialises writers in-process, so every audit write goes through
    it rather than opening its own connection. ``read()`` is one consistent read snapshot.
    After ``write()`` commits, the host runs and clears the callbacks listed under
    ``conn.info[AFTER_COMMIT]``; on rollback it clears them without running them.
    """

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
