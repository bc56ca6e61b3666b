"""The audit outbox loses its unique index on ``event_id``.

Every recorded event paid for that B-tree twice, once when the business transaction inserted it
and once when the sealer deleted it, and on SQLite the index's pages went to the WAL with each
group commit. Without it (``bench/audit_write_cost.py --group 3``) recording an event costs
13.1 instead of 16.2 µs of CPU and writes 3.3 instead of 5.6 KB. It guarded nothing the log
does not: event ids are ULIDs (80 random bits within a millisecond), and
``audit_events.event_id`` stays unique.

SQLite cannot drop a table constraint, so the table is rebuilt with its pending rows, pks kept.

Audit's schema change, applied through ``audit.schema.r0004_outbox_without_event_id_index``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from audit.schema import r0004_outbox_without_event_id_index as audit_schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    audit_schema.upgrade(op)


def downgrade() -> None:
    audit_schema.downgrade(op)
