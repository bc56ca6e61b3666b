"""Integrity: append-only triggers, signed checkpoints, verify and tampering, the sealer lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from audit import LeaseLost, Relay, checkpoint_public_key, read_sealed, record_many, verify
from audit.signing import derive_key
from audit.tables import AuditEventRow, CheckpointRow
from tests.integration.audit.conftest import provisioned
from tests.integration.audit.reference_host import ReferenceHost

_events = AuditEventRow.__table__
_checkpoints = CheckpointRow.__table__


async def _sealed_log(db: ReferenceHost, count: int = 10, *, secret_key: str = "") -> Relay:
    async with db.write() as conn:
        await record_many(conn, [provisioned(f"user{i}@acme.example") for i in range(count)])
    relay = Relay(db, secret_key=secret_key)
    await relay.drain()
    return relay


@asynccontextmanager
async def _bypassing_triggers(db: ReferenceHost) -> AsyncIterator[AsyncConnection]:
    """A raw write with the append-only triggers out of the way: what an attacker with DB access can do."""
    async with db.write() as conn:
        if db.dialect == "postgresql":
            await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            await conn.execute(text("DROP TRIGGER audit_events_no_update"))
            await conn.execute(text("DROP TRIGGER audit_events_guarded_delete"))
        yield conn


async def test_sealed_events_refuse_update_and_delete(db: ReferenceHost) -> None:
    await _sealed_log(db, 3)
    for statement in (
        update(_events).where(_events.c.sequence == 2).values(action="user.deleted"),
        delete(_events).where(_events.c.sequence == 3),
        delete(_events),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.write() as conn:
                await conn.execute(statement)
    if db.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.write() as conn:
                await conn.execute(text("TRUNCATE audit_events"))
    assert (await verify(db, "acme")).ok


async def test_verify_passes_on_an_untouched_log_with_checkpoints(db: ReferenceHost) -> None:
    relay = await _sealed_log(db, 10, secret_key="s3cret")
    assert await relay.checkpoint() == 1
    assert await relay.checkpoint() == 0  # the head has not moved
    async with db.write() as conn:
        await record_many(conn, [provisioned("more@acme.example")])
    await relay.drain()
    assert await relay.checkpoint() == 1
    report = await verify(db, "acme", secret_key="s3cret")
    assert report.ok and report.checked == 11 and report.checkpoints == 2
    assert report.first_broken_sequence is None
    assert (await verify(db, "nobody")).ok


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("body", None),
        ("action", "user.deleted"),
        ("hash", "f" * 64),
        ("actor_name", "someone-else"),
        ("target_name", "nobody@acme.example"),
    ],
)
async def test_editing_a_sealed_row_makes_verify_fail_at_that_sequence(
    db: ReferenceHost, column: str, value: str | None
) -> None:
    await _sealed_log(db, 10)
    async with db.read() as conn:
        victim = (await read_sealed(conn, "acme"))[6]
    assert victim.sequence == 7
    new_value = value if value is not None else victim.body.replace("user6@acme.example", "mallory@evil.example")
    async with _bypassing_triggers(db) as conn:
        await conn.execute(update(_events).where(_events.c.event_id == victim.event_id).values({column: new_value}))
    report = await verify(db, "acme")
    assert not report.ok
    assert report.first_broken_sequence == 7
    assert report.reason


async def test_removing_an_event_is_reported_at_the_gap(db: ReferenceHost) -> None:
    await _sealed_log(db, 10)
    async with _bypassing_triggers(db) as conn:
        await conn.execute(delete(_events).where(_events.c.sequence == 4))
    report = await verify(db, "acme")
    assert (report.ok, report.first_broken_sequence) == (False, 4)


async def test_truncating_the_tail_is_caught_by_the_chain_head_and_checkpoints(db: ReferenceHost) -> None:
    relay = await _sealed_log(db, 10)
    await relay.checkpoint()
    async with _bypassing_triggers(db) as conn:
        await conn.execute(delete(_events).where(_events.c.sequence > 8))
        await conn.execute(text("UPDATE audit_chains SET last_sequence = 8, head_hash = :h"), {"h": "0" * 64})
    report = await verify(db, "acme")
    assert (report.ok, report.first_broken_sequence) == (False, 9)


async def test_a_forged_checkpoint_fails_verification(db: ReferenceHost) -> None:
    relay = await _sealed_log(db, 5, secret_key="right")
    await relay.checkpoint()
    assert (await verify(db, "acme", secret_key="right")).ok
    forger = derive_key("wrong")
    async with db.write() as conn:
        await conn.execute(update(_checkpoints).values(key_id=derive_key("right").key_id, signature=forger.sign(b"x")))
    report = await verify(db, "acme", secret_key="right")
    assert (report.ok, report.first_broken_sequence) == (False, 5)
    assert "signature" in (report.reason or "")


async def test_without_a_secret_a_key_is_generated_once_and_published(db: ReferenceHost) -> None:
    key_id, pem = await checkpoint_public_key(db)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert await checkpoint_public_key(db) == (key_id, pem)
    configured_id, _ = await checkpoint_public_key(db, "configured-secret")
    assert configured_id == derive_key("configured-secret").key_id != key_id


async def test_one_sealer_per_database_and_takeover_when_the_lease_expires(db: ReferenceHost) -> None:
    first = Relay(db, holder="first", lease_ttl=0.6)
    second = Relay(db, holder="second", lease_ttl=0.6)
    # run() without stop(): cancelling it is a crash, the lease is left to expire.
    crashed = asyncio.create_task(first.run())
    await asyncio.sleep(0.3)
    await second.start()
    try:
        await asyncio.sleep(0.5)
        assert first.is_leader and not second.is_leader
        with pytest.raises(LeaseLost):
            await second.checkpoint()  # every leader-only write is fenced by the lease
        crashed.cancel()
        for _ in range(100):
            if second.is_leader:
                break
            await asyncio.sleep(0.05)
        assert second.is_leader
        async with db.write() as conn:
            await record_many(conn, [provisioned("after@acme.example")])
        for _ in range(100):
            async with db.read() as conn:
                if len(await read_sealed(conn, "acme")) == 1:
                    break
            await asyncio.sleep(0.02)
        assert (await verify(db, "acme")).ok
    finally:
        crashed.cancel()
        await second.stop()
