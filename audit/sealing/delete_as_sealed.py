"""Sealing on PostgreSQL: the sealer deletes from the outbox what it seals, in the same transaction.

Why not a watermark, as on SQLite (:mod:`audit.sealing.watermark`): PostgreSQL hands out pks from
a sequence when a row is inserted, not when its transaction commits, so a transaction that took
pk 10 can commit after the sealer has read pk 11; a watermark at 11 would skip 10 forever. So
what is in the outbox is exactly what is unsealed. It is one database, so the delete takes no
lock the host's writes wait on.

Statements are built once: one built per call spends more CPU in SQLAlchemy's cache-key and
coercion machinery than the database spends on it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, bindparam, delete, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..chain import GENESIS_HASH, ChainHead
from ..tables import CHAINS, EVENTS, OUTBOX
from .base import LINKED_COLUMNS, SealResult, link

__all__ = ["DeletingSealer"]

_outbox = OUTBOX
_chains = CHAINS
_PENDING = (
    select(_outbox.c.pk, _outbox.c.organization, _outbox.c.payload).order_by(_outbox.c.pk).limit(bindparam("limit"))
)
_HEADS = select(_chains).where(_chains.c.organization.in_(bindparam("orgs", expanding=True)))
_INSERT_EVENTS = insert(EVENTS)
_MOVE_HEAD = (
    update(_chains)
    .where(_chains.c.organization == bindparam("b_org"))
    .values(last_sequence=bindparam("b_seq"), head_hash=bindparam("b_hash"))
)
_INSERT_CHAINS = insert(_chains)
_DELETE_SEALED = delete(_outbox).where(_outbox.c.pk.in_(bindparam("pks", expanding=True)))
_EVERY_ROW = true()


async def _load_heads(conn: AsyncConnection, organizations: Iterable[str]) -> dict[str, ChainHead]:
    rows = await conn.execute(_HEADS, {"orgs": list(organizations)})
    return {r.organization: ChainHead(**r._mapping) for r in rows}


class DeletingSealer:
    """Seals the oldest outbox rows and deletes them; every row left in the outbox is unsealed."""

    __slots__ = ()

    async def seal(self, conn: AsyncConnection, *, limit: int) -> SealResult:
        pending = (await conn.execute(_PENDING, {"limit": limit})).all()
        if not pending:
            return SealResult(0, {})
        heads = await _load_heads(conn, {r.organization for r in pending})
        known = set(heads)
        linked = link(((r.organization, r.payload) for r in pending), heads)
        await conn.execute(_INSERT_EVENTS, [dict(zip(LINKED_COLUMNS, e, strict=True)) for e in linked])
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
        return SealResult.of(linked, heads)

    def unsealed(self) -> ColumnElement[bool]:
        """Every outbox row: sealed ones are deleted as they are sealed."""
        return _EVERY_ROW

    async def prune(self, conn: AsyncConnection) -> int:
        """Nothing to prune: sealing deleted what it sealed."""
        return 0
