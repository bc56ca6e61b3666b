"""Retention: per-organisation windows, the guarded purge, and a chain that still verifies."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from audit import (
    DEFAULT_RETENTION_DAYS,
    Actor,
    Relay,
    RetentionError,
    get_retention,
    purge_expired,
    read_sealed,
    record_many,
    set_retention,
    verify,
)
from tests.integration.audit.conftest import provisioned
from tests.integration.audit.reference_host import ReferenceHost

_NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
_ADMIN = Actor("admin", "ops@acme.example")


async def _events_aged(db: ReferenceHost, ages_in_days: list[int], organization: str = "acme") -> None:
    drafts = [
        replace(provisioned(f"u{i}@{organization}.example", organization), occurred_at=_NOW - timedelta(days=age))
        for i, age in enumerate(ages_in_days)
    ]
    async with db.write() as conn:
        await record_many(conn, drafts)
    await Relay(db, holder="test").drain()


async def test_default_and_bounds(db: ReferenceHost) -> None:
    async with db.read() as conn:
        policy = await get_retention(conn, "acme")
    assert (policy.days, policy.is_default) == (DEFAULT_RETENTION_DAYS, True)
    for bad in (29, 3651, 0, -5, "90", 90.5, True):
        with pytest.raises(RetentionError):
            await set_retention(db, "acme", bad, actor=_ADMIN)


async def test_setting_retention_is_audited(db: ReferenceHost) -> None:
    await set_retention(db, "acme", 30, actor=_ADMIN)
    policy = await set_retention(db, "acme", 365, actor=_ADMIN)
    assert (policy.days, policy.is_default) == (365, False)
    await Relay(db, holder="test").drain()
    async with db.read() as conn:
        events = [e.as_dict() for e in await read_sealed(conn, "acme")]
        assert (await get_retention(conn, "acme")).days == 365
    assert [e["action"] for e in events] == ["retention_policy.updated"] * 2
    assert events[1]["actor"] == {"type": "admin", "name": "ops@acme.example"}
    assert events[1]["metadata"] == {"retention_days": 365, "previous_retention_days": 30}


async def test_purge_removes_only_expired_events_and_the_chain_still_verifies(db: ReferenceHost) -> None:
    await _events_aged(db, [200, 120, 95, 91, 60, 10, 0])
    await _events_aged(db, [400, 1], organization="globex")
    await set_retention(db, "globex", 3650, actor=_ADMIN)
    relay = Relay(db, holder="test")
    await relay.drain()
    await relay.checkpoint()

    results = await purge_expired(db, now=_NOW)
    assert [(r.organization, r.through_sequence, r.purged) for r in results] == [("acme", 4, 4)]
    await relay.drain()
    async with db.read() as conn:
        remaining = [e.as_dict() for e in await read_sealed(conn, "acme")]
    assert [e["sequence"] for e in remaining] == [5, 6, 7, 8]
    purged = remaining[-1]
    assert purged["action"] == "audit_log.purged"
    assert purged["actor"] == {"type": "system", "name": "retention"}
    assert purged["metadata"]["through_sequence"] == 4 and purged["metadata"]["purged_events"] == 4

    report = await verify(db, "acme")
    assert report.ok and report.checked == 4, report
    assert (await verify(db, "globex")).ok
    assert await purge_expired(db, now=_NOW) == []  # idempotent


async def test_purge_of_a_whole_idle_log_keeps_the_head(db: ReferenceHost) -> None:
    await _events_aged(db, [100, 99])
    await purge_expired(db, now=_NOW)
    relay = Relay(db, holder="test")
    await relay.drain()
    async with db.read() as conn:
        remaining = await read_sealed(conn, "acme")
    assert [(e.sequence, e.action) for e in remaining] == [(3, "audit_log.purged")]
    assert (await verify(db, "acme")).ok


async def test_an_old_event_sealed_late_is_kept_until_everything_before_it_expires(db: ReferenceHost) -> None:
    await _events_aged(db, [10, 200, 5])
    assert await purge_expired(db, now=_NOW) == []
    assert (await verify(db, "acme")).ok


async def test_verify_passes_while_the_purge_event_is_still_unsealed(db: ReferenceHost) -> None:
    await _events_aged(db, [200, 120, 10])
    await purge_expired(db, now=_NOW)
    assert (await verify(db, "acme")).ok  # audit_log.purged is still in the outbox


async def test_cutting_off_the_oldest_events_without_a_purge_is_caught(db: ReferenceHost) -> None:
    await _events_aged(db, [50, 40, 30, 20, 10])
    async with db.write() as conn:
        if db.dialect == "postgresql":
            await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            await conn.execute(text("DROP TRIGGER audit_events_guarded_delete"))
        anchor = (await conn.execute(text("SELECT hash FROM audit_events WHERE sequence = 2"))).scalar_one()
        await conn.execute(text("DELETE FROM audit_events WHERE sequence <= 2"))
        await conn.execute(text("UPDATE audit_chains SET anchor_sequence = 2, anchor_hash = :h"), {"h": anchor})
    report = await verify(db, "acme")
    assert (report.ok, report.first_broken_sequence) == (False, 3)


async def test_the_leading_relay_purges_and_checkpoints_on_its_own(db: ReferenceHost) -> None:
    from sqlalchemy import func, select

    from audit.tables import CHECKPOINTS

    now = datetime.now(UTC)
    drafts = [
        replace(provisioned(f"p{i}@acme.example"), occurred_at=now - timedelta(days=age))
        for i, age in enumerate([200, 1])
    ]
    async with db.write() as conn:
        await record_many(conn, drafts)
    relay = Relay(db, retention_interval=0.2, checkpoint_interval=0.2)
    await relay.start()
    try:
        for _ in range(150):
            async with db.read() as conn:
                actions = [e.action for e in await read_sealed(conn, "acme")]
                checkpoints = (await conn.execute(select(func.count()).select_from(CHECKPOINTS))).scalar_one()
            if "audit_log.purged" in actions and checkpoints >= 2:
                break
            await asyncio.sleep(0.05)
        assert actions == ["user.provisioned", "audit_log.purged"]
        assert checkpoints >= 2
    finally:
        await relay.stop()
    assert (await verify(db, "acme")).ok
