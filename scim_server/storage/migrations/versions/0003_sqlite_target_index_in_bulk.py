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

Audit's schema change, applied through ``audit.schema.r0003_sqlite_target_index_in_bulk``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from audit.schema import r0003_sqlite_target_index_in_bulk as audit_schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    audit_schema.upgrade(op)


def downgrade() -> None:
    audit_schema.downgrade(op)
