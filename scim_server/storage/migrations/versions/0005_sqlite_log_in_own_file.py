"""On SQLite the sealed audit log moves into a database file of its own.

Sealing is most of what the audit trail costs the server, and it cannot move to another core
while it shares a file with the SCIM data: SQLite has one write lock per file, so a sealer in
another process made every SCIM commit wait on it (measured: 85.7% of unaudited throughput,
request p99 30-80 ms, seal lag p99 1.1 s), and in-process it runs on the server's one core. With
the log in ``<name>-audit.db`` (attached to every connection as ``audit_log``, see
``audit.log_database``) the server writes only the main file and the sealer only the
log, so each takes its own lock.

Moved, rows and all: ``audit_events`` with its indexes and triggers, both FTS5 indexes (their
shadow tables copied as they are, so nothing is re-indexed), the indexing watermark, the chains,
the checkpoints and the purge guard. New: ``audit_log.audit_seal_state``, the outbox pk the
sealer has sealed through (it no longer deletes from the outbox, which is in the main file), and
``main.scimtrail_write_lock``, an empty table whose no-op DELETE takes the main file's write lock
without ``BEGIN IMMEDIATE``'s locking of every attached file.

PostgreSQL is one database either way: nothing changes there. The log's move is audit's
(``audit.schema.r0005_sqlite_log_in_own_file``); the write-lock table is the server's.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from audit.schema import r0005_sqlite_log_in_own_file as audit_schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    audit_schema.upgrade(op)
    if op.get_bind().dialect.name == "sqlite":
        op.get_bind().exec_driver_sql("CREATE TABLE main.scimtrail_write_lock (id INTEGER PRIMARY KEY)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.get_bind().exec_driver_sql("DROP TABLE main.scimtrail_write_lock")
    audit_schema.downgrade(op)
