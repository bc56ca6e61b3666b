"""What every sealer does, whatever the engine: number and chain outbox rows in outbox order.

A sealer must run with the relay's lease held (the relay fences it): sequences are read,
incremented and written back in one transaction, so a second concurrent sealer would hit the
unique (organization, sequence) constraint and roll back rather than fork the chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection

from ..chain import GENESIS_HASH, ChainHead, canonical_json, link_hash
from ..search_words import search_words

__all__ = ["LINKED_COLUMNS", "SealResult", "Sealer", "link"]


@dataclass(frozen=True, slots=True)
class SealResult:
    """What one sealing transaction did: how many events, and each touched chain's new head."""

    count: int
    heads: dict[str, int]
    #: Each sealed event's ``occurred_at``, for the seal-lag metric.
    occurred_at: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, linked: list[tuple[Any, ...]], heads: dict[str, ChainHead]) -> SealResult:
        return cls(len(linked), {h.organization: h.last_sequence for h in heads.values()}, [e[5] for e in linked])


class Sealer(Protocol):
    """How one engine moves events from the outbox into the sealed log, and what it leaves behind."""

    async def seal(self, conn: AsyncConnection, *, limit: int) -> SealResult:
        """Seal up to ``limit`` outbox rows, oldest first, in ``conn``'s transaction (see the module)."""
        ...

    def unsealed(self) -> ColumnElement[bool]:
        """The condition on outbox rows that selects those still waiting to be sealed."""
        ...

    async def prune(self, conn: AsyncConnection) -> int:
        """Delete sealed rows the sealer left in the outbox, in a host write transaction; how many went."""
        ...


#: The columns :func:`link` fills, in order.
LINKED_COLUMNS = (
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


def link(pending: Iterable[tuple[str, Any]], heads: dict[str, ChainHead]) -> list[tuple[Any, ...]]:
    """Number and chain ``(organization, payload)`` rows in order, moving ``heads`` along.

    Returns one tuple per event, in :data:`LINKED_COLUMNS` order.
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
