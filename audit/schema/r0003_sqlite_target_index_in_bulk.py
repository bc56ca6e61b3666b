"""SQLite: the audit log's target names are indexed in bulk, with the search index, not per event.

``ix_audit_events_org_target_seq`` was the one B-tree on the log whose insert position is
random (a new user's address lands on a leaf page of its own), so every sealed event rewrote a
whole page of it into the WAL, and the checkpoint copied that page again: about half the bytes
sealing wrote. It goes. In its place an FTS5 index, ``audit_events_fts_targets``, holds each
event's target name as one token (the name's UTF-8 bytes in hex, so any name is exactly one
word), and the relay feeds it with the full-text index, once a second, from the same watermark.
FTS5 writes each batch as a new segment and merges them in the background: sequential writes.
A target filter finds its events there and walks the events sealed since by pk.

PostgreSQL keeps its B-tree: the write cost this removes was measured on SQLite only.
"""

from __future__ import annotations

from .ops import MigrationOps

__all__ = ["upgrade", "downgrade"]


_WATERMARK = "(SELECT indexed_through FROM audit_events_fts_state WHERE id = 1)"
_DELETE_INDEXED = f"""CREATE TRIGGER audit_events_fts_delete AFTER DELETE ON audit_events
    WHEN old.pk <= {_WATERMARK}
    BEGIN INSERT INTO audit_events_fts(audit_events_fts, rowid, search_text)
          VALUES ('delete', old.pk, old.search_text);
          INSERT INTO audit_events_fts_targets(audit_events_fts_targets, rowid, target_key)
          VALUES ('delete', old.pk, hex(old.target_name)); END"""
_DELETE_INDEXED_0002 = f"""CREATE TRIGGER audit_events_fts_delete AFTER DELETE ON audit_events
    WHEN old.pk <= {_WATERMARK}
    BEGIN INSERT INTO audit_events_fts(audit_events_fts, rowid, search_text)
          VALUES ('delete', old.pk, old.search_text); END"""


def upgrade(op: MigrationOps) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in (
        "DROP INDEX IF EXISTS ix_audit_events_org_target_seq",
        # Contentless (the names are in audit_events), no positions, no per-row sizes: presence only.
        """CREATE VIRTUAL TABLE audit_events_fts_targets USING fts5(
            target_key, content='', detail=none, columnsize=0, tokenize='unicode61')""",
        f"""INSERT INTO audit_events_fts_targets(rowid, target_key)
            SELECT pk, hex(target_name) FROM audit_events WHERE pk <= {_WATERMARK}""",
        "DROP TRIGGER IF EXISTS audit_events_fts_delete",
        _DELETE_INDEXED,
    ):
        bind.exec_driver_sql(statement)


def downgrade(op: MigrationOps) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in (
        "DROP TRIGGER IF EXISTS audit_events_fts_delete",
        _DELETE_INDEXED_0002,
        "DROP TABLE audit_events_fts_targets",
        "CREATE INDEX ix_audit_events_org_target_seq ON audit_events (organization, target_name, sequence)",
    ):
        bind.exec_driver_sql(statement)
