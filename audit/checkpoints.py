"""Signed checkpoints: the head of every chain that moved, signed, so a truncated log is caught.

Runs inside the caller's write transaction on the log (the relay's, under its lease).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .chain import canonical_json
from .events import format_timestamp
from .signing import CheckpointKey
from .tables import CHAINS, CHECKPOINTS

__all__ = ["checkpoint_payload", "write_checkpoints"]

_chains = CHAINS
_checkpoints = CHECKPOINTS


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
