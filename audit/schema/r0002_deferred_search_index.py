"""SQLite: sealed events join the full-text index in bulk, not one by one as they are sealed.

FTS5 writes a new index segment for every transaction that adds to it, and merges segments as
they pile up: fed a few dozen events per sealing transaction, indexing cost more than the rest
of sealing put together. The per-row insert trigger goes; the relay indexes everything sealed
past a watermark (``audit_events_fts_state.indexed_through``) about once a second, in one
transaction. The delete trigger now takes out of the index only rows that were put in it.

PostgreSQL's GIN index is maintained by the database itself and is unchanged.
"""

from __future__ import annotations

from .ops import MigrationOps

__all__ = ["upgrade", "downgrade"]


_DELETE_INDEXED = """CREATE TRIGGER audit_events_fts_delete AFTER DELETE ON audit_events
    WHEN old.pk <= (SELECT indexed_through FROM audit_events_fts_state WHERE id = 1)
    BEGIN INSERT INTO audit_events_fts(audit_events_fts, rowid, search_text)
          VALUES ('delete', old.pk, old.search_text); END"""


def upgrade(op: MigrationOps) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in (
        "DROP TRIGGER IF EXISTS audit_events_fts_insert",
        "DROP TRIGGER IF EXISTS audit_events_fts_delete",
        """CREATE TABLE audit_events_fts_state (
            id INTEGER PRIMARY KEY CHECK (id = 1), indexed_through INTEGER NOT NULL)""",
        # Everything sealed so far went in through the old trigger.
        """INSERT INTO audit_events_fts_state (id, indexed_through)
            SELECT 1, coalesce(max(pk), 0) FROM audit_events""",
        _DELETE_INDEXED,
    ):
        bind.exec_driver_sql(statement)


def downgrade(op: MigrationOps) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in (
        """INSERT INTO audit_events_fts(rowid, search_text) SELECT pk, search_text FROM audit_events
            WHERE pk > (SELECT indexed_through FROM audit_events_fts_state WHERE id = 1)""",
        "DROP TRIGGER IF EXISTS audit_events_fts_delete",
        "DROP TABLE audit_events_fts_state",
        """CREATE TRIGGER audit_events_fts_insert AFTER INSERT ON audit_events
        BEGIN INSERT INTO audit_events_fts(rowid, search_text) VALUES (new.pk, new.search_text); END""",
        """CREATE TRIGGER audit_events_fts_delete AFTER DELETE ON audit_events
        BEGIN INSERT INTO audit_events_fts(audit_events_fts, rowid, search_text)
              VALUES ('delete', old.pk, old.search_text); END""",
    ):
        bind.exec_driver_sql(statement)
