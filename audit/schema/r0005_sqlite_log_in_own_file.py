"""On SQLite the sealed audit log moves into a database file of its own.

Sealing is most of what the audit trail costs the server, and it cannot move to another core
while it shares a file with the SCIM data: SQLite has one write lock per file, so a sealer in
another process made every SCIM commit wait on it (measured: 85.7% of unaudited throughput,
request p99 30-80 ms, seal lag p99 1.1 s), and in-process it runs on the server's one core. With
the log in ``<name>-audit.db`` (attached to every connection as ``audit_log``, see
:mod:`audit.schema.layout`) the server writes only the main file and the sealer only the log,
so each takes its own lock.

Moved, rows and all: ``audit_events`` with its indexes and triggers, both FTS5 indexes (their
shadow tables copied as they are, so nothing is re-indexed), the indexing watermark, the chains,
the checkpoints and the purge guard. New: ``audit_log.audit_seal_state``, the outbox pk the
sealer has sealed through (it no longer deletes from the outbox, which is in the main file). The
host's migration of the same number adds its own way to lock the main file alone.

PostgreSQL is one database either way: nothing changes there.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import Connection

from .layout import LOG_SCHEMA
from .ops import MigrationOps

__all__ = ["upgrade", "downgrade"]

_LOG = LOG_SCHEMA
_TABLES = (
    "audit_events",
    "audit_events_fts_state",
    "audit_chains",
    "audit_checkpoints",
    "audit_purge_guard",
)
_FTS = ("audit_events_fts", "audit_events_fts_targets")
_FTS_SHADOWS = ("data", "idx", "config", "docsize", "content")
_CREATE = re.compile(
    r'^(CREATE\s+(?:UNIQUE\s+|VIRTUAL\s+)?(?:TABLE|INDEX|TRIGGER)\s+(?:IF\s+NOT\s+EXISTS\s+)?)"?(\w+)"?', re.I
)


def _names(bind: Connection, schema: str, kind: str, *, of: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(name, sql)`` of the tables, indexes or triggers of ``of`` in ``schema``, in creation order."""
    marks = ", ".join("?" * len(of))
    column = "name" if kind == "table" else "tbl_name"
    return list(
        bind.exec_driver_sql(
            f"SELECT name, sql FROM {schema}.sqlite_master WHERE type = ? AND {column} IN ({marks}) AND sql IS NOT NULL"
            " ORDER BY rowid",
            (kind, *of),
        )
    )


def _qualified(sql: str, schema: str) -> str:
    return _CREATE.sub(lambda m: f'{m.group(1)}{schema}."{m.group(2)}"', sql, count=1)


def _move(op: MigrationOps, source: str, target: str) -> None:
    """Every log table from ``source`` into ``target``, rows, indexes and triggers included."""
    bind = op.get_bind()
    if existing := _names(bind, target, "table", of=_TABLES + _FTS):
        path = bind.exec_driver_sql("SELECT file FROM pragma_database_list WHERE name = ?", (target,)).scalar()
        raise RuntimeError(
            f"{path or target} already holds an audit log ({', '.join(sorted(n for n, _ in existing))}) that belongs"
            " to another database: move it away (or restore the database it belongs to) and start again"
        )
    for name, sql in _names(bind, source, "table", of=_TABLES):
        bind.exec_driver_sql(_qualified(sql, target))
        bind.exec_driver_sql(f"INSERT INTO {target}.{name} SELECT * FROM {source}.{name}")
    for name, sql in _names(bind, source, "table", of=_FTS):
        bind.exec_driver_sql(_qualified(sql, target))
        for suffix in _FTS_SHADOWS:
            shadow = f"{name}_{suffix}"
            if _names(bind, source, "table", of=(shadow,)):
                # The index as it is, segment by segment: no re-indexing of a large log.
                bind.exec_driver_sql(f"DELETE FROM {target}.{shadow}")
                bind.exec_driver_sql(f"INSERT INTO {target}.{shadow} SELECT * FROM {source}.{shadow}")
    for kind in ("index", "trigger"):
        for _name, sql in _names(bind, source, kind, of=_TABLES):
            bind.exec_driver_sql(_qualified(sql, target))
    for name in _FTS + tuple(reversed(_TABLES)):
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {source}.{name}")


def upgrade(op: MigrationOps) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    _move(op, "main", _LOG)
    bind.exec_driver_sql(
        f"CREATE TABLE {_LOG}.audit_seal_state (id INTEGER PRIMARY KEY CHECK (id = 1), outbox_through INTEGER NOT NULL)"
    )
    # The outbox holds only unsealed rows so far (sealing deleted them): seal from the start.
    bind.exec_driver_sql(f"INSERT INTO {_LOG}.audit_seal_state (id, outbox_through) VALUES (1, 0)")


def downgrade(op: MigrationOps) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # What the sealer sealed but the host has not yet pruned must not be sealed twice.
    bind.exec_driver_sql(
        f"DELETE FROM main.audit_outbox WHERE pk <= (SELECT outbox_through FROM {_LOG}.audit_seal_state)"
    )
    bind.exec_driver_sql(f"DROP TABLE {_LOG}.audit_seal_state")
    _move(op, _LOG, "main")
