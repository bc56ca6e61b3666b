"""The audit outbox loses its unique index on ``event_id``.

Every recorded event paid for that B-tree twice, once when the business transaction inserted it
and once when the sealer deleted it, and on SQLite the index's pages went to the WAL with each
group commit. Without it (``bench/audit_write_cost.py --group 3``) recording an event costs
13.1 instead of 16.2 µs of CPU and writes 3.3 instead of 5.6 KB. It guarded nothing the log
does not: event ids are ULIDs (80 random bits within a millisecond), and
``audit_events.event_id`` stays unique.

SQLite cannot drop a table constraint, so the table is rebuilt with its pending rows, pks kept.
"""

from __future__ import annotations

from .ops import MigrationOps

__all__ = ["upgrade", "downgrade"]


_SQLITE_TABLE = """CREATE TABLE {name} (
    pk INTEGER NOT NULL,
    event_id VARCHAR(40) NOT NULL,
    organization VARCHAR(63) NOT NULL,
    payload JSON NOT NULL,
    PRIMARY KEY (pk){unique}
)"""


def _rebuild_sqlite(op: MigrationOps, *, unique: bool) -> None:
    bind = op.get_bind()
    for statement in (
        _SQLITE_TABLE.format(name="audit_outbox_rebuilt", unique=",\n    UNIQUE (event_id)" if unique else ""),
        "INSERT INTO audit_outbox_rebuilt (pk, event_id, organization, payload)"
        " SELECT pk, event_id, organization, payload FROM audit_outbox",
        "DROP TABLE audit_outbox",
        "ALTER TABLE audit_outbox_rebuilt RENAME TO audit_outbox",
    ):
        bind.exec_driver_sql(statement)


def upgrade(op: MigrationOps) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(op, unique=False)
    else:
        op.drop_constraint("audit_outbox_event_id_key", "audit_outbox", type_="unique")


def downgrade(op: MigrationOps) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(op, unique=True)
    else:
        op.create_unique_constraint("audit_outbox_event_id_key", "audit_outbox", ["event_id"])
