"""Relay stage 1: outbox rows become a gap-free, hash-chained log per organisation."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

from sqlalchemy import func, select

from audit import Relay, RelayContext, Signal, chain_heads, read_sealed, record, record_many
from audit.backends import seal_pending, unsealed
from audit.tables import AuditEventRow, OutboxRow
from tests.integration.audit.conftest import provisioned
from tests.integration.audit.reference_host import ReferenceHost

_events = AuditEventRow.__table__


def _reference_hash(event_without_hash: dict[str, object], prev_hash: str) -> str:
    """The chain rule of DESIGN §5, written independently of audit.chain."""
    canonical = json.dumps(event_without_hash, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode() + prev_hash.encode()).hexdigest()


async def test_drain_numbers_each_organisation_gap_free_and_chains_hashes(db: ReferenceHost) -> None:
    async with db.write() as conn:
        for i in range(5):
            await record(conn, provisioned(f"user{i}@acme.example"))
            await record(conn, provisioned(f"user{i}@globex.example", organization="globex"))
    relay = Relay(db)
    assert await relay.drain() == 10
    async with db.read() as conn:
        for org in ("acme", "globex"):
            sealed = await read_sealed(conn, org)
            assert [e.sequence for e in sealed] == [1, 2, 3, 4, 5]
            assert [e.as_dict()["targets"][0]["name"] for e in sealed] == [f"user{i}@{org}.example" for i in range(5)]
            prev = "0" * 64
            for event in sealed:
                body = event.as_dict()
                assert body["prev_hash"] == prev and body["sequence"] == event.sequence
                assert body.pop("hash") == _reference_hash(body, prev) == event.hash
                assert json.loads(event.json())["hash"] == event.hash
                prev = event.hash
        heads = await chain_heads(conn)
        assert {o: h.last_sequence for o, h in heads.items()} == {"acme": 5, "globex": 5}
        assert (
            await conn.execute(select(func.count()).select_from(OutboxRow.__table__).where(unsealed(conn)))
        ).scalar_one() == 0


async def test_sealing_batches_and_continues_the_chain(db: ReferenceHost) -> None:
    async with db.write() as conn:
        await record_many(conn, [provisioned(f"u{i}@acme.example") for i in range(1200)])
    counts = []
    while True:
        async with db.write() as conn:
            result = await seal_pending(conn, limit=500)
        if not result.count:
            break
        counts.append(result.count)
    assert counts == [500, 500, 200]
    async with db.read() as conn:
        sequences = [r.sequence for r in await conn.execute(select(_events.c.sequence).order_by(_events.c.pk))]
    assert sequences == list(range(1, 1201))


async def test_running_relay_seals_within_100ms_of_a_commit(db: ReferenceHost) -> None:
    relay = Relay(db, poll_interval=0.05)
    await relay.start()
    try:
        for _ in range(50):
            if relay.is_leader:
                break
            await asyncio.sleep(0.02)
        lags = []
        for i in range(7):
            async with db.write() as conn:
                await record(conn, provisioned(f"fast{i}@acme.example"))
            committed = time.perf_counter()
            while True:
                async with db.read() as conn:
                    if len(await read_sealed(conn, "acme")) == i + 1:
                        break
                await asyncio.sleep(0.002)
            lags.append(time.perf_counter() - committed)
        assert sorted(lags)[len(lags) // 2] < 0.1, lags
    finally:
        await relay.stop()


async def test_stages_run_beside_sealing_and_hear_about_sealed_batches(db: ReferenceHost) -> None:
    seen: list[int] = []

    async def deliver(ctx: RelayContext) -> None:
        after = 0
        while True:
            await ctx.sealed.wait(timeout=0.5)
            async with ctx.transactions.read() as conn:
                for event in await read_sealed(conn, "acme", after_sequence=after):
                    seen.append(event.sequence)
                    after = event.sequence

    relay = Relay(db, stages=[deliver])
    await relay.start()
    try:
        async with db.write() as conn:
            await record_many(conn, [provisioned(f"s{i}@acme.example") for i in range(3)])
        for _ in range(200):
            if len(seen) == 3:
                break
            await asyncio.sleep(0.01)
        assert seen == [1, 2, 3]
    finally:
        await relay.stop()


async def test_a_crashing_stage_is_restarted_and_never_stops_sealing(db: ReferenceHost) -> None:
    runs: list[float] = []

    async def flaky(ctx: RelayContext) -> None:
        runs.append(time.monotonic())
        raise RuntimeError("receiver exploded")

    relay = Relay(db, stages=[flaky])
    await relay.start()
    try:
        async with db.write() as conn:
            await record(conn, provisioned("still@acme.example"))
        for _ in range(300):
            async with db.read() as conn:
                if await read_sealed(conn, "acme") and len(runs) >= 2:
                    break
            await asyncio.sleep(0.01)
        assert len(runs) >= 2
        async with db.read() as conn:
            assert [e.sequence for e in await read_sealed(conn, "acme")] == [1]
    finally:
        await relay.stop()


async def test_stop_seals_what_is_pending(db: ReferenceHost) -> None:
    relay = Relay(db, poll_interval=5.0, wakeup=Signal())
    await relay.start()
    for _ in range(100):
        if relay.is_leader:
            break
        await asyncio.sleep(0.01)
    async with db.write() as conn:
        await record(conn, provisioned("late@acme.example"))
    await relay.stop()
    async with db.read() as conn:
        assert [e.sequence for e in await read_sealed(conn, "acme")] == [1]


async def test_sealing_is_counted_and_its_lag_observed(db: ReferenceHost) -> None:
    from audit.metrics import RELAY_REGISTRY

    def sample(name: str) -> float:
        return RELAY_REGISTRY.get_sample_value(name) or 0.0

    sealed, lags = sample("scimtrail_audit_events_sealed_total"), sample("scimtrail_audit_seal_lag_seconds_count")
    async with db.write() as conn:
        await record_many(conn, [provisioned(f"m{i}@acme.example") for i in range(3)])
    await Relay(db).drain()
    assert sample("scimtrail_audit_events_sealed_total") == sealed + 3
    assert sample("scimtrail_audit_seal_lag_seconds_count") == lags + 3
