"""The audit tables: the transactional outbox, the sealed append-only log and its bookkeeping.

They sit on the same SQLModel metadata as the host service's tables, so one migration history
covers both, but reference organisations only by slug: the audit package stands on its own.
What SQLAlchemy's metadata cannot express (the append-only triggers, SQLite FTS5, a PostgreSQL
expression index) is DDL in :mod:`audit.schema`, which the host's migrations apply.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "OutboxRow",
    "AuditEventRow",
    "ChainRow",
    "CheckpointRow",
    "SigningKeyRow",
    "RelayLeaseRow",
    "PurgeGuardRow",
    "RetentionRow",
    "OUTBOX",
    "EVENTS",
    "CHAINS",
    "CHECKPOINTS",
    "SIGNING_KEYS",
    "RELAY_LEASE",
    "PURGE_GUARD",
    "RETENTION",
    "SEAL_STATE",
    "table_of",
]

_JSON = JSON().with_variant(JSONB(), "postgresql")
_PK = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid alias


class OutboxRow(SQLModel, table=True):
    """An event written in the business transaction, waiting for the relay to seal it."""

    __tablename__ = "audit_outbox"

    #: Insertion order; the sealer drains in this order.
    pk: int | None = Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))
    #: Not indexed: ids are ULIDs and the log's own ``event_id`` is unique (migration 0004).
    event_id: str = Field(sa_column=Column(String(40), nullable=False))
    organization: str = Field(sa_column=Column(String(63), nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(_JSON, nullable=False))


class AuditEventRow(SQLModel, table=True):
    """A sealed event: numbered per organisation and chained by hash. Never updated.

    ``body`` is the source of truth (the canonical event exactly as hashed, without ``hash``);
    the other columns are copies of some of its fields, there to be indexed and filtered on.
    ``verify`` checks that they agree with the body.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("organization", "sequence", name="uq_audit_events_org_sequence"),
        # Every listing is "one organisation, newest first, maybe one more equality filter".
        Index("ix_audit_events_org_time", "organization", "occurred_at"),
        Index("ix_audit_events_org_category_seq", "organization", "category", "sequence"),
        Index("ix_audit_events_org_action_seq", "organization", "action", "sequence"),
        Index("ix_audit_events_org_actor_seq", "organization", "actor_name", "sequence"),
        # PostgreSQL only: on SQLite target filters find their candidates in the FTS5 index
        # (migration 0003). Keyed on random addresses, this B-tree cost a page write per event.
        Index("ix_audit_events_org_target_seq", "organization", "target_name", "sequence").ddl_if(dialect="postgresql"),
    )

    pk: int | None = Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))
    event_id: str = Field(sa_column=Column(String(40), nullable=False, unique=True))
    organization: str = Field(sa_column=Column(String(63), nullable=False))
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    category: str = Field(sa_column=Column(String(32), nullable=False))
    #: RFC 3339 UTC with milliseconds: sorts and compares correctly as text.
    occurred_at: str = Field(sa_column=Column(String(32), nullable=False))
    actor_name: str = Field(sa_column=Column(String(320), nullable=False))
    #: The first target's name (most events have exactly one target).
    target_name: str | None = Field(default=None, sa_column=Column(String(320), nullable=True))
    #: Words of actor, action, category, targets and metadata, for full-text search.
    search_text: str = Field(sa_column=Column(Text, nullable=False))
    #: The canonical event exactly as hashed (without ``hash``), as text: re-serialising JSON
    #: through a database could reorder keys and break the chain.
    body: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


class ChainRow(SQLModel, table=True):
    """Each organisation's chain: its head, and the anchor the oldest remaining event links to.

    The anchor is the genesis (sequence 0, 64 zeros) until a retention purge removes events;
    then it is the last purged event's sequence and hash.
    """

    __tablename__ = "audit_chains"

    organization: str = Field(sa_column=Column(String(63), primary_key=True))
    last_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    head_hash: str = Field(sa_column=Column(String(64), nullable=False))
    anchor_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    anchor_hash: str = Field(sa_column=Column(String(64), nullable=False))


class CheckpointRow(SQLModel, table=True):
    """A signed statement of an organisation's chain head; each links to the previous signature."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_org_seq", "organization", "last_sequence"),)

    pk: int | None = Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))
    organization: str = Field(sa_column=Column(String(63), nullable=False))
    last_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    head_hash: str = Field(sa_column=Column(String(64), nullable=False))
    previous_signature: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    at: str = Field(sa_column=Column(String(32), nullable=False))
    key_id: str = Field(sa_column=Column(String(16), nullable=False))
    #: Base64 Ed25519 signature over the canonical JSON of the five fields above.
    signature: str = Field(sa_column=Column(String(100), nullable=False))


class SigningKeyRow(SQLModel, table=True):
    """The checkpoint key generated on first use when no ``secret_key`` is configured."""

    __tablename__ = "audit_signing_keys"

    key_id: str = Field(sa_column=Column(String(16), primary_key=True))
    #: Raw Ed25519 private key, hex. Only for generated keys; derived keys are never stored.
    private_key: str = Field(sa_column=Column(String(64), nullable=False))
    public_key: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: str = Field(sa_column=Column(String(32), nullable=False))


class RelayLeaseRow(SQLModel, table=True):
    """Who seals: one row per role, held by one process until ``expires_at`` (epoch seconds)."""

    __tablename__ = "audit_relay_lease"

    name: str = Field(sa_column=Column(String(32), primary_key=True))
    holder: str = Field(sa_column=Column(String(100), nullable=False))
    expires_at: float = Field(sa_column=Column(Float, nullable=False))


class PurgeGuardRow(SQLModel, table=True):
    """The one door through the append-only trigger: set by the purge inside its transaction.

    While ``organization``/``through_sequence`` are set, the trigger lets through deletes of that
    organisation's events up to that sequence, and nothing else; the purge clears it before commit.
    """

    __tablename__ = "audit_purge_guard"

    id: int = Field(sa_column=Column(Integer, primary_key=True))
    organization: str | None = Field(default=None, sa_column=Column(String(63), nullable=True))
    through_sequence: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class RetentionRow(SQLModel, table=True):
    """An organisation's retention window; organisations without a row keep the default."""

    __tablename__ = "audit_retention"

    organization: str = Field(sa_column=Column(String(63), primary_key=True))
    days: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: str = Field(sa_column=Column(String(32), nullable=False))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a ``table=True`` model."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]  # set by SQLModel's metaclass, not declared


#: The Core tables the audit package queries (statements are built on these, not on the models).
OUTBOX = table_of(OutboxRow)
EVENTS = table_of(AuditEventRow)
CHAINS = table_of(ChainRow)
CHECKPOINTS = table_of(CheckpointRow)
SIGNING_KEYS = table_of(SigningKeyRow)
RELAY_LEASE = table_of(RelayLeaseRow)
PURGE_GUARD = table_of(PurgeGuardRow)
RETENTION = table_of(RetentionRow)

#: SQLite only, in the log's own file (``audit.LOG_SCHEMA``, migration ``0005``): the outbox pk the
#: sealer has sealed through, moved in the transaction that seals. Not on the shared metadata:
#: PostgreSQL's sealer deletes what it seals instead (its pks are not in commit order).
SEAL_STATE = Table(
    "audit_seal_state",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("outbox_through", BigInteger, nullable=False),
)
