"""The audit tables: the transactional outbox and the sealed, append-only log.

They sit on the same SQLModel metadata as the host service's tables, so one migration history
covers both, but reference organisations only by slug: the audit package stands on its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = ["OutboxRow", "AuditEventRow", "install_triggers"]

_JSON = JSON().with_variant(JSONB(), "postgresql")
_PK = BigInteger().with_variant(Integer(), "sqlite")


class OutboxRow(SQLModel, table=True):
    """An event written in the business transaction, waiting for the relay to seal it."""

    __tablename__ = "audit_outbox"

    #: Insertion order; the sealer drains in this order.
    pk: int | None = Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))
    event_id: str = Field(sa_column=Column(String(40), nullable=False, unique=True))
    organization: str = Field(sa_column=Column(String(63), nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(_JSON, nullable=False))


class AuditEventRow(SQLModel, table=True):
    """A sealed event: numbered per organisation and chained by hash. Never updated."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("organization", "sequence", name="uq_audit_events_org_sequence"),
        Index("ix_audit_events_org_time", "organization", "occurred_at"),
    )

    pk: int | None = Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))
    event_id: str = Field(sa_column=Column(String(40), nullable=False, unique=True))
    organization: str = Field(sa_column=Column(String(63), nullable=False))
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    category: str = Field(sa_column=Column(String(32), nullable=False))
    occurred_at: str = Field(sa_column=Column(String(32), nullable=False))
    actor_name: str = Field(sa_column=Column(String(320), nullable=False))
    #: The canonical event exactly as hashed (without ``hash``), as text: re-serialising JSON
    #: through a database could reorder keys and break the chain.
    body: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


def install_triggers(bind: Any) -> None:
    """Database triggers that make ``audit_events`` append-only (filled in with the sealed log)."""
