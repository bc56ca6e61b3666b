"""SQLite: sealed events join the full-text index in bulk, not one by one as they are sealed.

FTS5 writes a new index segment for every transaction that adds to it, and merges segments as
they pile up: fed a few dozen events per sealing transaction, indexing cost more than the rest
of sealing put together. The per-row insert trigger goes; the relay indexes everything sealed
past a watermark (``audit_events_fts_state.indexed_through``) about once a second, in one
transaction. The delete trigger now takes out of the index only rows that were put in it.

PostgreSQL's GIN index is maintained by the database itself and is unchanged.

Audit's schema change, applied through ``audit.schema.r0002_deferred_search_index``.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from audit.schema import r0002_deferred_search_index as audit_schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    audit_schema.upgrade(op)


def downgrade() -> None:
    audit_schema.downgrade(op)
