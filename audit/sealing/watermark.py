"""Sealing on SQLite: a watermark over the outbox, moved in the log's own file.

Why a watermark here, and not on PostgreSQL: SQLite commits writes one transaction at a time and
gives a new row the largest pk in its table plus one, so outbox pk order *is* commit order: no
row can ever appear below a pk the sealer has already read past. The sealer can therefore keep
the outbox pk it has sealed through (``audit_seal_state.outbox_through``) and leave the outbox
alone. That matters because the outbox is in the host's main file and the sealed log in a file
of its own (:mod:`audit.schema.layout`): a sealer that deleted what it sealed would take the main
file's write lock and make every host commit wait on it. The watermark moves in the sealing
transaction, with the events, under the log file's lock; the host deletes below it
(:meth:`WatermarkSealer.prune`) in its own write transactions.

Sealing runs for every batch of events: its statements go straight to sqlite3 (see
:class:`audit.HostTransaction`) and are written once, as text.
"""

from __future__ import annotations

import sqlite3

import orjson
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..chain import GENESIS_HASH, ChainHead
from ..host import sqlite3_of
from ..tables import OUTBOX, SEAL_STATE
from .base import LINKED_COLUMNS, SealResult, link

__all__ = ["WatermarkSealer", "seal_sqlite"]

_SEALED_THROUGH_NOW = "SELECT outbox_through FROM audit_seal_state WHERE id = 1"
_PENDING = "SELECT pk, organization, payload FROM audit_outbox WHERE pk > ? ORDER BY pk LIMIT ?"
_HEADS = (
    "SELECT organization, last_sequence, head_hash, anchor_sequence, anchor_hash FROM audit_chains"
    " WHERE organization IN (SELECT value FROM json_each(?))"
)
_INSERT_EVENTS = (
    f"INSERT INTO audit_events ({', '.join(LINKED_COLUMNS)}) VALUES ({', '.join('?' * len(LINKED_COLUMNS))})"
)
_MOVE_HEAD = "UPDATE audit_chains SET last_sequence = ?, head_hash = ? WHERE organization = ?"
_NEW_CHAIN = (
    "INSERT INTO audit_chains (organization, last_sequence, head_hash, anchor_sequence, anchor_hash)"
    " VALUES (?, ?, ?, 0, ?)"
)
_ADVANCE = "UPDATE audit_seal_state SET outbox_through = ? WHERE id = 1"

#: The outbox rows the sealer has sealed, but for the last: SQLite gives a new row the largest pk
#: in the table plus one, so the table must never be left empty below the watermark, or pks
#: would start again under it. Built once: the relay's idle check and the pruner use it often.
_SEALED_THROUGH = select(SEAL_STATE.c.outbox_through).where(SEAL_STATE.c.id == 1).scalar_subquery()
_UNSEALED = OUTBOX.c.pk > _SEALED_THROUGH
_PRUNE = delete(OUTBOX).where(OUTBOX.c.pk < _SEALED_THROUGH)


def seal_sqlite(sqlite: sqlite3.Connection, limit: int) -> SealResult:
    """:meth:`WatermarkSealer.seal` on the transaction's sqlite3 connection itself."""
    through = sqlite.execute(_SEALED_THROUGH_NOW).fetchone()[0]
    pending = sqlite.execute(_PENDING, (through, limit)).fetchall()
    if not pending:
        return SealResult(0, {})
    organizations = sorted({r[1] for r in pending})
    heads = {r[0]: ChainHead(*r) for r in sqlite.execute(_HEADS, (orjson.dumps(organizations).decode(),))}
    known = set(heads)
    linked = link(((r[1], r[2]) for r in pending), heads)
    sqlite.executemany(_INSERT_EVENTS, linked)
    sqlite.executemany(
        _MOVE_HEAD, [(h.last_sequence, h.head_hash, h.organization) for h in heads.values() if h.organization in known]
    )
    sqlite.executemany(
        _NEW_CHAIN,
        [
            (h.organization, h.last_sequence, h.head_hash, GENESIS_HASH)
            for h in heads.values()
            if h.organization not in known
        ],
    )
    sqlite.execute(_ADVANCE, (pending[-1][0],))
    return SealResult.of(linked, heads)


class WatermarkSealer:
    """Seals past ``audit_seal_state.outbox_through`` and moves it; the host prunes below it."""

    __slots__ = ()

    async def seal(self, conn: AsyncConnection, *, limit: int) -> SealResult:
        """Seal up to ``limit`` outbox rows past the watermark, oldest first.

        Runs inside a transaction that holds the log file's write lock (a host's ``seal()``), the
        only place the watermark moves: what is read here as pending and sealed is exactly what no
        other sealer has sealed.
        """
        return seal_sqlite(await sqlite3_of(conn), limit)

    def unsealed(self) -> ColumnElement[bool]:
        """Outbox rows past the watermark (the sealed ones stay until pruned)."""
        return _UNSEALED

    async def prune(self, conn: AsyncConnection) -> int:
        """Delete the outbox rows below the watermark; returns how many went."""
        return (await conn.execute(_PRUNE)).rowcount
