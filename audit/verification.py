"""``verify``: recompute an organisation's chain and check its signed checkpoints.

What it catches: an edited event (its hash no longer matches its body, or its indexed columns no
longer match the body), a removed or inserted event (a sequence gap or a broken ``prev_hash``
link), a truncated tail (the chain head or a checkpoint names events that are gone), and forged
or re-ordered checkpoints (bad signature, broken ``previous_signature`` link).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select

from .backends import unsealed
from .chain import GENESIS_HASH, link_hash
from .checkpoints import checkpoint_payload
from .host import Transactions
from .signing import load_public_keys, verify_signature
from .tables import CHAINS, CHECKPOINTS, EVENTS, OUTBOX

__all__ = ["VerifyReport", "verify"]

_events = EVENTS
_chains = CHAINS
_checkpoints = CHECKPOINTS
_outbox = OUTBOX
_BATCH = 5000
#: Everything a sealed row claims: the body and hashes, and the columns copied from the body.
_VERIFIED_COLUMNS = (
    _events.c.sequence,
    _events.c.event_id,
    _events.c.organization,
    _events.c.action,
    _events.c.category,
    _events.c.occurred_at,
    _events.c.actor_name,
    _events.c.target_name,
    _events.c.body,
    _events.c.prev_hash,
    _events.c.hash,
)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    organization: str
    #: Events whose hash was recomputed.
    checked: int
    #: Checkpoints whose signature was checked.
    checkpoints: int = 0
    first_broken_sequence: int | None = None
    reason: str | None = None


@dataclass(slots=True)
class _Finding:
    sequence: int
    reason: str


def _body_disagrees(row: Any, body: dict[str, Any]) -> str | None:
    pairs = (
        ("sequence", row.sequence),
        ("prev_hash", row.prev_hash),
        ("id", row.event_id),
        ("organization", row.organization),
        ("action", row.action),
        ("category", row.category),
        ("occurred_at", row.occurred_at),
    )
    for field, column in pairs:
        if body.get(field) != column:
            return f"the {field} column disagrees with the sealed event"
    if body.get("actor", {}).get("name") != row.actor_name:
        return "the actor column disagrees with the sealed event"
    targets = body.get("targets") or []
    if (targets[0].get("name") if targets else None) != row.target_name:
        return "the target column disagrees with the sealed event"
    return None


async def verify(transactions: Transactions, organization: str, *, secret_key: str = "") -> VerifyReport:
    """Recompute ``organization``'s chain from its anchor and check every checkpoint.

    Reads in batches, so memory stays flat however long the log. The report names the lowest
    sequence at which anything is wrong.
    """
    async with transactions.read() as conn:
        chain = (await conn.execute(select(_chains).where(_chains.c.organization == organization))).first()
        checkpoint_rows = (
            await conn.execute(
                select(_checkpoints).where(_checkpoints.c.organization == organization).order_by(_checkpoints.c.pk)
            )
        ).all()
    keys = await load_public_keys(transactions, secret_key)
    findings: list[_Finding] = []

    # Checkpoints first: their signatures and links need no events, and they tell the event
    # pass which hashes to expect at which sequences.
    expected_heads: dict[int, tuple[str, int]] = {}
    previous_signature: str | None = None
    for cp in checkpoint_rows:
        key = keys.get(cp.key_id)
        payload = checkpoint_payload(cp.organization, cp.last_sequence, cp.head_hash, cp.previous_signature, cp.at)
        if key is None:
            findings.append(_Finding(cp.last_sequence, f"checkpoint signed by unknown key {cp.key_id}"))
        elif not verify_signature(key, payload, cp.signature):
            findings.append(_Finding(cp.last_sequence, "checkpoint signature is invalid"))
        elif cp.previous_signature != previous_signature:
            findings.append(_Finding(cp.last_sequence, "checkpoint does not link to the previous checkpoint"))
        expected_heads[cp.last_sequence] = (cp.head_hash, cp.pk)
        previous_signature = cp.signature

    anchor_sequence = chain.anchor_sequence if chain is not None else 0
    prev_hash = chain.anchor_hash if chain is not None else GENESIS_HASH
    if anchor_sequence in expected_heads and expected_heads[anchor_sequence][0] != prev_hash:
        findings.append(_Finding(anchor_sequence + 1, "the chain anchor disagrees with a signed checkpoint"))
    expected_sequence = anchor_sequence + 1
    checked = 0
    chain_broken = False
    purges: set[int] = set()
    while not chain_broken:
        async with transactions.read() as conn:
            rows = (
                await conn.execute(
                    select(*_VERIFIED_COLUMNS)
                    .where(_events.c.organization == organization, _events.c.sequence >= expected_sequence)
                    .order_by(_events.c.sequence)
                    .limit(_BATCH)
                )
            ).all()
        if not rows:
            break
        for row in rows:
            problem = _check_event(row, expected_sequence, prev_hash)
            if problem is not None:
                findings.append(problem)
                chain_broken = True
                break
            checked += 1
            if row.action == "audit_log.purged":
                purges.add(orjson.loads(row.body)["metadata"].get("through_sequence"))
            expected = expected_heads.get(row.sequence)
            if expected is not None and expected[0] != row.hash:
                findings.append(_Finding(row.sequence, "event hash disagrees with a signed checkpoint"))
            prev_hash = row.hash
            expected_sequence = row.sequence + 1

    last_sequence = expected_sequence - 1
    if not chain_broken:
        if chain is not None and (chain.last_sequence != last_sequence or chain.head_hash != prev_hash):
            findings.append(_Finding(last_sequence + 1, "events at the end of the chain are missing"))
        beyond = [seq for seq in expected_heads if seq > last_sequence]
        if beyond:
            findings.append(_Finding(last_sequence + 1, "a signed checkpoint names events that are missing"))
        if (
            anchor_sequence
            and anchor_sequence not in purges
            and not await _purge_pending(transactions, organization, anchor_sequence)
        ):
            # Removing the oldest events and re-anchoring leaves a consistent chain; only the
            # purge's own event, chained after the anchor, vouches that retention removed them.
            findings.append(_Finding(anchor_sequence + 1, "the chain starts after events no recorded purge removed"))

    if not findings:
        return VerifyReport(True, organization, checked, len(checkpoint_rows))
    first = min(findings, key=lambda f: f.sequence)
    return VerifyReport(False, organization, checked, len(checkpoint_rows), first.sequence, first.reason)


async def _purge_pending(transactions: Transactions, organization: str, through: int) -> bool:
    """Whether the purge that set this anchor has its event still waiting in the outbox."""
    async with transactions.read() as conn:
        payloads = await conn.execute(
            select(_outbox.c.payload).where(_outbox.c.organization == organization, unsealed(conn))
        )
        for (payload,) in payloads:
            event = payload if isinstance(payload, dict) else orjson.loads(payload)
            if event["action"] == "audit_log.purged" and event["metadata"].get("through_sequence") == through:
                return True
    return False


def _check_event(row: Any, expected_sequence: int, prev_hash: str) -> _Finding | None:
    if row.sequence != expected_sequence:
        return _Finding(expected_sequence, f"event {expected_sequence} is missing")
    if row.prev_hash != prev_hash:
        return _Finding(row.sequence, "prev_hash does not link to the previous event")
    if link_hash(row.body.encode(), row.prev_hash) != row.hash:
        return _Finding(row.sequence, "hash does not match the event")
    try:
        body = orjson.loads(row.body)
    except orjson.JSONDecodeError:
        return _Finding(row.sequence, "the sealed event is not valid JSON")
    disagreement = _body_disagrees(row, body)
    return _Finding(row.sequence, disagreement) if disagreement else None
