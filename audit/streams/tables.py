"""The log-stream tables: each stream's configuration and cursor, and its dead letters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from ..tables import table_of

__all__ = ["DeadLetterRow", "StreamRow", "STREAMS", "DEAD_LETTERS"]

_JSON = JSON().with_variant(JSONB(), "postgresql")
_PK = BigInteger().with_variant(Integer(), "sqlite")


class StreamRow(SQLModel, table=True):
    """A log stream: where an organisation's sealed events go, and how far they have gone."""

    __tablename__ = "log_streams"
    __table_args__ = (UniqueConstraint("organization", "name", name="uq_log_streams_org_name"),)

    #: Public id, ``ls_<ULID>``; also the prefix of every batch id the stream sends.
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    organization: str = Field(sa_column=Column(String(63), nullable=False, index=True))
    name: str = Field(sa_column=Column(String(63), nullable=False))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    format: str = Field(sa_column=Column(String(16), nullable=False))
    #: The sink's settings without its secrets.
    config: dict[str, Any] = Field(sa_column=Column(_JSON, nullable=False))
    #: The sink's secrets as one AES-GCM sealed JSON object (see ``audit.streams.crypto``).
    secrets: str = Field(sa_column=Column(Text, nullable=False))
    #: ``{"categories": [...], "actions": [...]}``; an empty list means "all".
    filter: dict[str, Any] = Field(sa_column=Column(_JSON, nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    #: The last sequence delivered (or skipped past by the filter); 0 before the first.
    cursor: int = Field(sa_column=Column(BigInteger, nullable=False, default=0))
    #: Bumped by every configuration change, so a running worker knows to rebuild its sink.
    version: int = Field(sa_column=Column(Integer, nullable=False, default=1))
    created_at: str = Field(sa_column=Column(String(32), nullable=False))
    updated_at: str = Field(sa_column=Column(String(32), nullable=False))
    last_success_at: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_error_at: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    #: When the current run of failed attempts began; cleared by the next delivery.
    failing_since: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))


class DeadLetterRow(SQLModel, table=True):
    """A batch the receiver refused for good: kept whole, so it can be inspected or re-sent."""

    __tablename__ = "log_stream_dead_letters"
    __table_args__ = (Index("ix_log_stream_dead_letters_stream", "stream_id", "first_sequence"),)

    pk: int | None = Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))
    stream_id: str = Field(sa_column=Column(String(32), nullable=False))
    organization: str = Field(sa_column=Column(String(63), nullable=False))
    batch_id: str = Field(sa_column=Column(String(96), nullable=False))
    first_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    #: The canonical events of the batch, as a JSON array.
    events: str = Field(sa_column=Column(Text, nullable=False))
    created_at: str = Field(sa_column=Column(String(32), nullable=False))


#: The Core tables the log-stream code queries.
STREAMS = table_of(StreamRow)
DEAD_LETTERS = table_of(DeadLetterRow)
