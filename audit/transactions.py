"""The one seam between the audit package and the host's database: two transaction scopes."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["AFTER_COMMIT", "LOCK_LOG", "LOG_SCHEMA", "PENDING_EVENTS", "SQLITE_CONNECTION", "SealingTransactions", "Transactions"]

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


#: On SQLite the sealed log (``audit_events``, its chains, checkpoints and search index, and the
#: sealer's watermark) lives in a database file of its own, attached to every connection under
#: this schema name: the host writes the main file, the sealer only this one, so neither waits on
#: the other's write lock. Statements name the log's tables without a schema; the tables exist
#: only there. The sealer does not delete what it sealed from the outbox (that would be a write to
#: the main file): it moves ``audit_seal_state.outbox_through`` instead, in the same transaction
#: as the events, and :func:`audit.prune_outbox` deletes below it from the host's side.
LOG_SCHEMA = "audit_log"

#: Takes the log file's write lock and changes nothing: a write statement locks only the file it
#: names, where ``BEGIN IMMEDIATE`` would lock every attached one (a host's ``seal()`` begins
#: with it; a host write transaction that will write the log runs it before reading the log).
LOCK_LOG = f"DELETE FROM {LOG_SCHEMA}.audit_seal_state WHERE 0"


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


class SealingTransactions(Transactions, Protocol):
    """A host that can also open write transactions on the sealed log alone (SQLite, where the log
    is a file of its own: see :data:`LOG_SCHEMA`). ``seal()`` may read anything and write only
    the log's tables; the relay seals, indexes and signs checkpoints through it when offered."""

    def seal(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
