"""The sealed log: sealing outbox rows into the chain, signing checkpoints, reading events back.

Functions here take an open connection and run inside the caller's transaction; the relay
decides when and under which lease they run.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Unpack

import orjson
from sqlalchemy import Row, bindparam, delete, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .chain import GENESIS_HASH, canonical_json, link_hash, with_hash
from .events import format_timestamp
from .signing import CheckpointKey
from .tables import CHAINS, CHECKPOINTS, EVENTS, OUTBOX, SEAL_STATE
from .transactions import LOCK_LOG, SQLITE_CONNECTION

__all__ = [
    "EVENT_COLUMNS",
    "SealedEvent",
    "ChainHead",
    "SealResult",
    "seal_pending",
    "write_checkpoints",
    "checkpoint_payload",
    "read_sealed",
    "read_event",
    "chain_heads",
    "search_words",
    "has_pending",
    "unsealed",
    "lock_log",
    "prune_outbox",
]

_outbox = OUTBOX
_events = EVENTS
_chains = CHAINS
_checkpoints = CHECKPOINTS

#: The columns a :class:`SealedEvent` is built from, in its field order.
EVENT_COLUMNS = (
    _events.c.organization,
    _events.c.sequence,
    _events.c.event_id,
    _events.c.action,
    _events.c.category,
    _events.c.occurred_at,
    _events.c.body,
    _events.c.prev_hash,
    _events.c.hash,
)
_NOT_A_WORD = re.compile(r"[^\w]+")
#: For ASCII text: every byte that is not a word character (``\w``) becomes a space, and
#: upper-case letters lower-case ones; a C table lookup per byte, four times faster than the
#: regex, and sealing runs it for every event.
_ASCII_WORDS = bytes(
    32 if c >= 128 or not (chr(c).isalnum() or chr(c) == "_") else c + 32 if chr(c).isupper() else c
    for c in range(256)
)


class SealedEvent(NamedTuple):
    """A sealed event as stored: ``json()`` is the canonical event that exports and sinks carry.

    A named tuple rather than a frozen dataclass: exports build millions of these, and a tuple
    is several times cheaper to construct.
    """

    organization: str
    sequence: int
    event_id: str
    action: str
    category: str
    occurred_at: str
    body: str
    prev_hash: str
    hash: str

    def json(self) -> str:
        return with_hash(self.body, self.hash)

    def as_dict(self) -> dict[str, Any]:
        event: dict[str, Any] = orjson.loads(self.body)
        event["hash"] = self.hash
        return event

    @classmethod
    def from_row(cls, row: Row[Unpack[tuple[Any, ...]]]) -> SealedEvent:
        """From a row selected with :data:`EVENT_COLUMNS` (positional: exports build millions)."""
        return cls._make(row)


@dataclass(frozen=True, slots=True)
class ChainHead:
    organization: str
    last_sequence: int
    head_hash: str
    anchor_sequence: int
    anchor_hash: str


@dataclass(frozen=True, slots=True)
class SealResult:
    """What one sealing transaction did: how many events, and each touched chain's new head."""

    count: int
    heads: dict[str, int]
    #: Each sealed event's ``occurred_at``, for the seal-lag metric.
    occurred_at: list[str] = field(default_factory=list)


def search_words(event: Mapping[str, Any]) -> str:
    """The text full-text search matches: actor, action, category, targets, metadata.

    Punctuation becomes spaces here, and in queries, so ``jane@acme.example`` is the phrase
    ``jane acme example`` on both SQLite FTS5 and PostgreSQL's ``simple`` configuration.
    """
    parts: list[str] = [event["actor"]["name"], event["action"], event["category"]]
    parts.extend(f"{t['type']} {t['name']}" for t in event["targets"])
    for key, value in event["metadata"].items():
        parts.append(key)
        parts.extend(str(v) for v in value) if isinstance(value, list) else parts.append(str(value))
    text = " ".join(parts)
    if text.isascii():
        return b" ".join(text.encode().translate(_ASCII_WORDS).split()).decode()
    return _NOT_A_WORD.sub(" ", text).strip().lower()


# Sealing runs for every batch of events: its statements are built once (a statement built per
# call spends more CPU in SQLAlchemy's cache-key and coercion machinery than SQLite spends on it).
_PENDING = (
    select(_outbox.c.pk, _outbox.c.organization, _outbox.c.payload).order_by(_outbox.c.pk).limit(bindparam("limit"))
)
_HEADS = select(_chains).where(_chains.c.organization.in_(bindparam("orgs", expanding=True)))
_INSERT_EVENTS = insert(_events)
_MOVE_HEAD = (
    update(_chains)
    .where(_chains.c.organization == bindparam("b_org"))
    .values(last_sequence=bindparam("b_seq"), head_hash=bindparam("b_hash"))
)
_INSERT_CHAINS = insert(_chains)
_DELETE_SEALED = delete(_outbox).where(_outbox.c.pk.in_(bindparam("pks", expanding=True)))


async def _load_heads(conn: AsyncConnection, organizations: Iterable[str]) -> dict[str, ChainHead]:
    rows = await conn.execute(_HEADS, {"orgs": list(organizations)})
    return {r.organization: ChainHead(**r._mapping) for r in rows}


#: The columns :func:`_link` fills, in order.
_LINKED_COLUMNS = (
    "event_id",
    "organization",
    "sequence",
    "action",
    "category",
    "occurred_at",
    "actor_name",
    "target_name",
    "search_text",
    "body",
    "prev_hash",
    "hash",
)
_SQLITE_SEALED_THROUGH = "SELECT outbox_through FROM audit_seal_state WHERE id = 1"
_SQLITE_PENDING = "SELECT pk, organization, payload FROM audit_outbox WHERE pk > ? ORDER BY pk LIMIT ?"
_SQLITE_HEADS = (
    "SELECT organization, last_sequence, head_hash, anchor_sequence, anchor_hash FROM audit_chains"
    " WHERE organization IN (SELECT value FROM json_each(?))"
)
_SQLITE_INSERT_EVENTS = (
    f"INSERT INTO audit_events ({', '.join(_LINKED_COLUMNS)}) VALUES ({', '.join('?' * len(_LINKED_COLUMNS))})"
)
_SQLITE_MOVE_HEAD = "UPDATE audit_chains SET last_sequence = ?, head_hash = ? WHERE organization = ?"
_SQLITE_NEW_CHAIN = (
    "INSERT INTO audit_chains (organization, last_sequence, head_hash, anchor_sequence, anchor_hash)"
    " VALUES (?, ?, ?, 0, ?)"
)
_SQLITE_ADVANCE = "UPDATE audit_seal_state SET outbox_through = ? WHERE id = 1"
#: The outbox rows the sealer has sealed, but for the last: SQLite gives a new row the largest pk
#: in the table plus one, so the table must never be left empty below the watermark, or pks
#: would start again under it.
_SEALED_THROUGH = select(SEAL_STATE.c.outbox_through).where(SEAL_STATE.c.id == 1).scalar_subquery()
_PRUNE = delete(_outbox).where(_outbox.c.pk < _SEALED_THROUGH)


def _link(pending: Iterable[tuple[str, Any]], heads: dict[str, ChainHead]) -> list[tuple[Any, ...]]:
    """Number and chain ``(organization, payload)`` rows in order, moving ``heads`` along.

    Returns one tuple per event, in :data:`_LINKED_COLUMNS` order.
    """
    linked: list[tuple[Any, ...]] = []
    append = linked.append
    # The running head of each chain as (last sequence, head hash): a ChainHead per event costs
    # more than the hash does, so they are rebuilt once, at the end.
    moving: dict[str, tuple[int, str]] = {}
    for organization, payload in pending:
        try:
            sequence, prev_hash = moving[organization]
        except KeyError:
            head = heads.get(organization)
            sequence, prev_hash = (head.last_sequence, head.head_hash) if head else (0, GENESIS_HASH)
        event = orjson.loads(payload) if isinstance(payload, str | bytes) else dict(payload)
        sequence += 1
        event["sequence"] = sequence
        event["prev_hash"] = prev_hash
        body = canonical_json(event)
        hash_ = link_hash(body, prev_hash)
        targets = event["targets"]
        append(
            (
                event["id"],
                organization,
                sequence,
                event["action"],
                event["category"],
                event["occurred_at"],
                event["actor"]["name"],
                targets[0]["name"] if targets else None,
                search_words(event),
                body.decode(),
                prev_hash,
                hash_,
            )
        )
        moving[organization] = (sequence, hash_)
    for organization, (sequence, hash_) in moving.items():
        head = heads.get(organization)
        anchor = (head.anchor_sequence, head.anchor_hash) if head else (0, GENESIS_HASH)
        heads[organization] = ChainHead(organization, sequence, hash_, *anchor)
    return linked


def _result(linked: list[tuple[Any, ...]], heads: dict[str, ChainHead]) -> SealResult:
    return SealResult(len(linked), {h.organization: h.last_sequence for h in heads.values()}, [e[5] for e in linked])


async def seal_pending(conn: AsyncConnection, *, limit: int = 500) -> SealResult:
    """Seal up to ``limit`` outbox rows, oldest first.

    Must run with the sealer lease held (the relay fences it): sequences are read, incremented
    and written back in this transaction, so a second concurrent sealer would hit the unique
    (organization, sequence) constraint and roll back rather than fork the chain.
    """
    if (sqlite := await _sqlite_of(conn)) is not None:
        return _seal_sqlite(sqlite, limit)
    pending = (await conn.execute(_PENDING, {"limit": limit})).all()
    if not pending:
        return SealResult(0, {})
    heads = await _load_heads(conn, {r.organization for r in pending})
    known = set(heads)
    linked = _link(((r.organization, r.payload) for r in pending), heads)
    await conn.execute(_INSERT_EVENTS, [dict(zip(_LINKED_COLUMNS, e, strict=True)) for e in linked])
    moved = [{"b_org": h.organization, "b_seq": h.last_sequence, "b_hash": h.head_hash} for h in heads.values()]
    existing = [m for m in moved if m["b_org"] in known]
    if existing:
        await conn.execute(_MOVE_HEAD, existing)
    fresh = [
        {
            "organization": m["b_org"],
            "last_sequence": m["b_seq"],
            "head_hash": m["b_hash"],
            "anchor_sequence": 0,
            "anchor_hash": GENESIS_HASH,
        }
        for m in moved
        if m["b_org"] not in known
    ]
    if fresh:
        await conn.execute(_INSERT_CHAINS, fresh)
    await conn.execute(_DELETE_SEALED, {"pks": [r.pk for r in pending]})
    return _result(linked, heads)


async def _sqlite_of(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The ``sqlite3`` connection under ``conn`` on SQLite, else ``None``."""
    if (sqlite := conn.info.get(SQLITE_CONNECTION)) is not None:
        return sqlite
    if conn.dialect.name != "sqlite":
        return None
    driver = (await conn.get_raw_connection()).driver_connection
    if isinstance(driver, sqlite3.Connection):
        return driver
    if (sqlite := getattr(driver, "sqlite3_connection", None)) is None:
        # The log's watermark is only moved on sqlite3 directly; a host must offer the connection.
        raise RuntimeError("this SQLite host does not expose its sqlite3 connection (audit.SQLITE_CONNECTION)")
    return sqlite


async def lock_log(conn: AsyncConnection) -> None:
    """Take the sealed log's write lock now, in a write transaction that will write to it.

    On SQLite the log is a file of its own (``audit.LOG_SCHEMA``) that a host's write
    transaction does not lock up front; one that reads the log and then writes it could find
    that the sealer committed in between and fail (``SQLITE_BUSY_SNAPSHOT``). Elsewhere a no-op.
    """
    if (sqlite := await _sqlite_of(conn)) is not None:
        sqlite.execute(LOCK_LOG)


def unsealed(conn: AsyncConnection) -> Any:
    """The condition on outbox rows that selects those still waiting to be sealed (on SQLite the
    sealed ones stay until pruned, below the watermark)."""
    if conn.dialect.name != "sqlite":
        return true()
    return _outbox.c.pk > _SEALED_THROUGH


async def has_pending(conn: AsyncConnection) -> bool:
    """Whether any recorded event waits to be sealed."""
    return (await conn.execute(select(_outbox.c.pk).where(unsealed(conn)).limit(1))).first() is not None


async def prune_outbox(conn: AsyncConnection) -> int:
    """Delete what the sealer has sealed from the outbox, on SQLite (where the sealer, writing only
    the log's file, leaves it there); returns how many rows went. PostgreSQL's sealer deletes
    what it seals, so there this does nothing."""
    if conn.dialect.name != "sqlite":
        return 0
    return (await conn.execute(_PRUNE)).rowcount


def _seal_sqlite(sqlite: sqlite3.Connection, limit: int) -> SealResult:
    """:func:`seal_pending`'s statements sent straight to sqlite3 (see ``audit.SQLITE_CONNECTION``).

    Runs inside a transaction that holds the log file's write lock (``audit.LOG_SCHEMA``), the
    only place the watermark moves: what is read here as pending and sealed is exactly what no
    other sealer has sealed. SQLite commits writes to the outbox one transaction at a time and
    numbers rows past every committed one, so no row can later appear below the watermark.
    """
    through = sqlite.execute(_SQLITE_SEALED_THROUGH).fetchone()[0]
    pending = sqlite.execute(_SQLITE_PENDING, (through, limit)).fetchall()
    if not pending:
        return SealResult(0, {})
    organizations = sorted({r[1] for r in pending})
    heads = {r[0]: ChainHead(*r) for r in sqlite.execute(_SQLITE_HEADS, (orjson.dumps(organizations).decode(),))}
    known = set(heads)
    linked = _link(((r[1], r[2]) for r in pending), heads)
    sqlite.executemany(_SQLITE_INSERT_EVENTS, linked)
    sqlite.executemany(
        _SQLITE_MOVE_HEAD, [(h.last_sequence, h.head_hash, h.organization) for h in heads.values() if h.organization in known]
    )
    sqlite.executemany(
        _SQLITE_NEW_CHAIN,
        [(h.organization, h.last_sequence, h.head_hash, GENESIS_HASH) for h in heads.values() if h.organization not in known],
    )
    sqlite.execute(_SQLITE_ADVANCE, (pending[-1][0],))
    return _result(linked, heads)


def checkpoint_payload(
    organization: str, last_sequence: int, head_hash: str, previous_signature: str | None, at: str
) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return canonical_json(
        {
            "org": organization,
            "last_sequence": last_sequence,
            "head_hash": head_hash,
            "previous_signature": previous_signature,
            "at": at,
        }
    )


async def write_checkpoints(conn: AsyncConnection, key: CheckpointKey, *, now: datetime) -> int:
    """Sign the head of every chain that moved since its last checkpoint. Returns how many."""
    latest = (
        select(_checkpoints.c.organization, func.max(_checkpoints.c.pk).label("pk"))
        .group_by(_checkpoints.c.organization)
        .subquery()
    )
    previous = (
        select(_checkpoints.c.organization, _checkpoints.c.last_sequence, _checkpoints.c.signature)
        .join(latest, latest.c.pk == _checkpoints.c.pk)
        .subquery()
    )
    due = await conn.execute(
        select(_chains.c.organization, _chains.c.last_sequence, _chains.c.head_hash, previous.c.signature)
        .outerjoin(previous, previous.c.organization == _chains.c.organization)
        .where((previous.c.last_sequence.is_(None)) | (previous.c.last_sequence < _chains.c.last_sequence))
    )
    at = format_timestamp(now)
    rows = []
    for org, last_sequence, head_hash, previous_signature in due:
        payload = checkpoint_payload(org, last_sequence, head_hash, previous_signature, at)
        rows.append(
            {
                "organization": org,
                "last_sequence": last_sequence,
                "head_hash": head_hash,
                "previous_signature": previous_signature,
                "at": at,
                "key_id": key.key_id,
                "signature": key.sign(payload),
            }
        )
    if rows:
        await conn.execute(insert(_checkpoints), rows)
    return len(rows)


async def read_sealed(
    conn: AsyncConnection, organization: str, *, after_sequence: int = 0, limit: int = 500
) -> list[SealedEvent]:
    """An organisation's sealed events after ``after_sequence``, in sequence order (for delivery)."""
    rows = await conn.execute(
        select(*EVENT_COLUMNS)
        .where(_events.c.organization == organization, _events.c.sequence > after_sequence)
        .order_by(_events.c.sequence)
        .limit(limit)
    )
    return [SealedEvent.from_row(r) for r in rows]


async def read_event(conn: AsyncConnection, organization: str, event_id: str) -> SealedEvent | None:
    """One sealed event by id, only if it belongs to ``organization``."""
    row = (
        await conn.execute(
            select(*EVENT_COLUMNS).where(_events.c.event_id == event_id, _events.c.organization == organization)
        )
    ).first()
    return SealedEvent.from_row(row) if row is not None else None


async def chain_heads(conn: AsyncConnection) -> dict[str, ChainHead]:
    """Every organisation's chain, by slug."""
    return {r.organization: ChainHead(**r._mapping) for r in await conn.execute(select(_chains))}
