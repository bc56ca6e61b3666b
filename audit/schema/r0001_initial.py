"""Revision 0001 of audit's schema: the outbox, the sealed log with its chains, checkpoints,
retention, relay lease and signing keys, and log streams.

Besides the tables: triggers that keep ``audit_events`` append-only (except the guarded retention
purge), full-text search over it (SQLite FTS5, PostgreSQL GIN on a tsvector), and the purge guard row.
The host creates its own tables between :func:`create_tables` and :func:`create_guards`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from .ops import MigrationOps

__all__ = ["create_tables", "create_guards", "drop_guards", "drop_tables"]

_APPEND_ONLY = "audit_events is append-only; only the retention purge may delete"

_SQLITE_DDL = (
    f"""CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_events_guarded_delete BEFORE DELETE ON audit_events
    WHEN NOT EXISTS (SELECT 1 FROM audit_purge_guard g WHERE g.id = 1
                     AND g.organization = OLD.organization AND OLD.sequence <= g.through_sequence)
    BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END""",
    # External content: the index lives in FTS5, the text stays in audit_events.search_text.
    """CREATE VIRTUAL TABLE IF NOT EXISTS audit_events_fts USING fts5(
        search_text, content='audit_events', content_rowid='pk', tokenize='unicode61')""",
    """CREATE TRIGGER IF NOT EXISTS audit_events_fts_insert AFTER INSERT ON audit_events
    BEGIN INSERT INTO audit_events_fts(rowid, search_text) VALUES (new.pk, new.search_text); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_events_fts_delete AFTER DELETE ON audit_events
    BEGIN INSERT INTO audit_events_fts(audit_events_fts, rowid, search_text)
          VALUES ('delete', old.pk, old.search_text); END""",
)

_POSTGRES_DDL = (
    f"""CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF EXISTS (SELECT 1 FROM audit_purge_guard g WHERE g.id = 1
                       AND g.organization = OLD.organization AND OLD.sequence <= g.through_sequence) THEN
                RETURN OLD;
            END IF;
        END IF;
        RAISE EXCEPTION '{_APPEND_ONLY}' USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()""",
    """CREATE INDEX IF NOT EXISTS ix_audit_events_search ON audit_events
    USING gin (to_tsvector('simple'::regconfig, search_text))""",
)


def create_tables(op: MigrationOps) -> None:
    """Audit's tables and their indexes, as they were at revision 0001."""
    op.create_table(
        "audit_chains",
        sa.Column("organization", sa.String(length=63), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_sequence", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("organization"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("organization", sa.String(length=63), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("previous_signature", sa.String(length=100), nullable=True),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index(
        "ix_audit_checkpoints_org_seq", "audit_checkpoints", ["organization", "last_sequence"], unique=False
    )
    op.create_table(
        "audit_events",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("organization", sa.String(length=63), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.String(length=32), nullable=False),
        sa.Column("actor_name", sa.String(length=320), nullable=False),
        sa.Column("target_name", sa.String(length=320), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("event_id"),
        sa.UniqueConstraint("organization", "sequence", name="uq_audit_events_org_sequence"),
    )
    op.create_index(
        "ix_audit_events_org_action_seq", "audit_events", ["organization", "action", "sequence"], unique=False
    )
    op.create_index(
        "ix_audit_events_org_actor_seq", "audit_events", ["organization", "actor_name", "sequence"], unique=False
    )
    op.create_index(
        "ix_audit_events_org_category_seq", "audit_events", ["organization", "category", "sequence"], unique=False
    )
    op.create_index(
        "ix_audit_events_org_target_seq", "audit_events", ["organization", "target_name", "sequence"], unique=False
    )
    op.create_index("ix_audit_events_org_time", "audit_events", ["organization", "occurred_at"], unique=False)
    op.create_table(
        "audit_outbox",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("organization", sa.String(length=63), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_table(
        "audit_purge_guard",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization", sa.String(length=63), nullable=True),
        sa.Column("through_sequence", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_relay_lease",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "audit_retention",
        sa.Column("organization", sa.String(length=63), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("organization"),
    )
    op.create_table(
        "audit_signing_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("private_key", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_table(
        "log_stream_dead_letters",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.String(length=32), nullable=False),
        sa.Column("organization", sa.String(length=63), nullable=False),
        sa.Column("batch_id", sa.String(length=96), nullable=False),
        sa.Column("first_sequence", sa.BigInteger(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index(
        "ix_log_stream_dead_letters_stream", "log_stream_dead_letters", ["stream_id", "first_sequence"], unique=False
    )
    op.create_table(
        "log_streams",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column(
            "config", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column(
            "filter", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("last_success_at", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.String(length=32), nullable=True),
        sa.Column("failing_since", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organization", "name", name="uq_log_streams_org_name"),
    )
    op.create_index(op.f("ix_log_streams_organization"), "log_streams", ["organization"], unique=False)


def create_guards(op: MigrationOps) -> None:
    """The append-only triggers, full-text search and the purge guard row (after the tables)."""
    bind = op.get_bind()
    for statement in _POSTGRES_DDL if bind.dialect.name == "postgresql" else _SQLITE_DDL:
        bind.exec_driver_sql(statement)
    bind.exec_driver_sql("INSERT INTO audit_purge_guard (id, organization, through_sequence) VALUES (1, NULL, NULL)")


def drop_guards(op: MigrationOps) -> None:
    """Undo :func:`create_guards` (before the host drops its tables)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        bind.exec_driver_sql("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        bind.exec_driver_sql("DROP TABLE IF EXISTS audit_events_fts")


def drop_tables(op: MigrationOps) -> None:
    """Undo :func:`create_tables`."""
    op.drop_index(op.f("ix_log_streams_organization"), table_name="log_streams")
    op.drop_table("log_streams")
    op.drop_index("ix_log_stream_dead_letters_stream", table_name="log_stream_dead_letters")
    op.drop_table("log_stream_dead_letters")
    op.drop_table("audit_signing_keys")
    op.drop_table("audit_retention")
    op.drop_table("audit_relay_lease")
    op.drop_table("audit_purge_guard")
    op.drop_table("audit_outbox")
    op.drop_index("ix_audit_events_org_time", table_name="audit_events")
    op.drop_index("ix_audit_events_org_target_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_org_category_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_org_actor_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_org_action_seq", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_audit_checkpoints_org_seq", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chains")
