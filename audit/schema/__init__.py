"""Audit's schema, owned here and applied by the host's migrations.

The tables are declared in :mod:`audit.tables` and :mod:`audit.streams.tables`; what their
metadata cannot express (append-only triggers, SQLite FTS5, a PostgreSQL expression index, the
log in a file of its own on SQLite: :mod:`.layout`) is DDL here. Each ``rNNNN_*`` module is
audit's part of the host's Alembic revision ``NNNN``, called with its ``op``; like migrations,
they are frozen once released. :func:`create` applies them all, for a host that starts from
an empty database without a migration history of its own.
"""

from __future__ import annotations

from . import (
    r0001_initial,
    r0002_deferred_search_index,
    r0003_sqlite_target_index_in_bulk,
    r0004_outbox_without_event_id_index,
    r0005_sqlite_log_in_own_file,
)
from .layout import LOCK_LOG, LOG_SCHEMA, log_database
from .ops import MigrationOps

__all__ = [
    "LOCK_LOG",
    "LOG_SCHEMA",
    "MigrationOps",
    "create",
    "log_database",
    "r0001_initial",
    "r0002_deferred_search_index",
    "r0003_sqlite_target_index_in_bulk",
    "r0004_outbox_without_event_id_index",
    "r0005_sqlite_log_in_own_file",
]


def create(op: MigrationOps) -> None:
    """Audit's whole schema, revision by revision, on an empty database (on SQLite with the log's
    file attached as :data:`LOG_SCHEMA`)."""
    r0001_initial.create_tables(op)
    r0001_initial.create_guards(op)
    for revision in (
        r0002_deferred_search_index,
        r0003_sqlite_target_index_in_bulk,
        r0004_outbox_without_event_id_index,
        r0005_sqlite_log_in_own_file,
    ):
        revision.upgrade(op)
