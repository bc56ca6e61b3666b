"""Webhook delivery against a Standard Webhooks receiver: order, signatures, faults, states."""

from __future__ import annotations

import asyncio
import time

import orjson
from sqlalchemy import select

from audit.backends import unsealed
from audit.streams.tables import DeadLetterRow
from audit.tables import AuditEventRow, OutboxRow
from scim_server.storage.engine import Database
from tests.support.receivers import Fault, Served, WebhookReceiver
from tests.support.server import free_port

from .conftest import ADMIN, FAST, WEBHOOK_SECRET, create_stream, seed, service, stage, stream_row


async def _until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _until_cursor(db: Database, stream_id: str, cursor: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (await stream_row(db, stream_id)).cursor != cursor:
        assert time.monotonic() < deadline, f"cursor did not reach {cursor}"
        await asyncio.sleep(0.02)


def _sequences(receiver: WebhookReceiver) -> list[int]:
    return [e["sequence"] for e in receiver.unique()]


async def test_delivers_every_event_in_order_signed_with_stable_batch_ids(db: Database) -> None:
    await seed(db, 250)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    async with Served(receiver.app) as served:
        stream_id = await create_stream(db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET})
        delivered = await stage(db).run_once()
    assert delivered == {stream_id: 250}
    assert [e["sequence"] for e in receiver.received] == list(range(1, 251))
    assert receiver.batch_ids == [f"{stream_id}_1_100", f"{stream_id}_101_200", f"{stream_id}_201_250"]
    first = receiver.received[0]
    assert first["organization"] == "acme" and first["action"] == "user.provisioned"
    assert len(first["hash"]) == 64 and first["prev_hash"] == "0" * 64
    row = await stream_row(db, stream_id)
    assert (row.cursor, row.state, row.last_error) == (250, "active", None)
    assert row.last_success_at is not None


async def test_retries_500_and_429_honouring_retry_after_then_delivers_once(db: Database) -> None:
    await seed(db, 30)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    receiver.fail_next(Fault(500), Fault(429, headers={"retry-after": "1"}), Fault(503))
    async with Served(receiver.app) as served:
        stream_id = await create_stream(db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET})
        relay = stage(db)
        started = time.monotonic()
        task = asyncio.create_task(relay.run())
        await _until_cursor(db, stream_id, 30)
        elapsed = time.monotonic() - started
        await relay.stop()
        task.cancel()
    assert elapsed >= 1.0, "the 429's Retry-After was not honoured"
    assert _sequences(receiver) == list(range(1, 31))
    assert len(receiver.received) == 30  # failed attempts were not accepted, so no copies
    row = await stream_row(db, stream_id)
    assert row.cursor == 30 and row.state == "active" and row.failing_since is None
    assert "503" in row.last_error  # the last failure is still on record


async def test_receiver_down_then_up_gets_everything_exactly_once(db: Database) -> None:
    await seed(db, 40)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    port = free_port()
    stream_id = await create_stream(db, "webhook", {"url": f"http://127.0.0.1:{port}/hook", "secret": WEBHOOK_SECRET})
    relay = stage(db)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0.5)
    row = await stream_row(db, stream_id)
    assert row.cursor == 0 and "unreachable" in row.last_error
    async with Served(receiver.app, port=port):
        await seed(db, 10)  # more events arrive while it recovers
        # 51: the stream's own log_stream.created event was sealed with the new ones.
        await _until_cursor(db, stream_id, 51)
    await relay.stop()
    task.cancel()
    assert _sequences(receiver) == list(range(1, 52))


async def test_slow_receiver_is_retried_and_does_not_delay_a_healthy_stream(db: Database) -> None:
    await seed(db, 20)
    slow, healthy = WebhookReceiver(WEBHOOK_SECRET), WebhookReceiver(WEBHOOK_SECRET)
    slow.fail_next(Fault(0, delay=3.0), Fault(0, delay=3.0))  # answers after the 1 s request timeout
    async with Served(slow.app) as slow_server, Served(healthy.app) as healthy_server:
        slow_id = await create_stream(
            db, "webhook", {"url": f"{slow_server.url}/hook", "secret": WEBHOOK_SECRET}, name="slow"
        )
        await create_stream(db, "webhook", {"url": f"{healthy_server.url}/hook", "secret": WEBHOOK_SECRET}, name="fast")
        relay = stage(db)
        task = asyncio.create_task(relay.run())
        started = time.monotonic()
        await _until(lambda: len(healthy.unique()) == 20)
        healthy_lag = time.monotonic() - started
        await seed(db, 5)  # sealed with the two log_stream.created events
        await _until(lambda: len(healthy.unique()) == 27)
        await _until_cursor(db, slow_id, 27, timeout=15)
        await relay.stop()
        task.cancel()
    assert healthy_lag < 0.9, f"the healthy stream waited {healthy_lag:.2f} s behind the slow one"
    assert _sequences(slow) == list(range(1, 28))
    assert "timed out" in (await stream_row(db, slow_id)).last_error


async def test_rejected_batch_is_dead_lettered_and_the_status_says_why(db: Database) -> None:
    await seed(db, 5)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    receiver.fail_next(Fault(400, body={"error": "schema mismatch"}))
    async with Served(receiver.app) as served:
        stream_id = await create_stream(db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET})
        assert await stage(db).run_once() == {stream_id: 0}
        status = await service(db).get(ADMIN, stream_id)
        assert status.stream.state == "failing"
        assert status.stream.cursor == 5  # the poison batch no longer blocks the stream
        assert status.dead_letters == 1
        assert "400" in (status.stream.last_error or "") and "schema mismatch" in (status.stream.last_error or "")
        async with db.read() as conn:
            letter = (await conn.execute(select(DeadLetterRow.__table__))).one()
        assert (letter.batch_id, letter.first_sequence, letter.last_sequence) == (f"{stream_id}_1_5", 1, 5)
        assert [e["sequence"] for e in orjson.loads(letter.events)] == [1, 2, 3, 4, 5]
        # The next batch goes through, and the stream is healthy again.
        await seed(db, 2)  # with the stream's own log_stream.created
        assert await stage(db).run_once() == {stream_id: 3}
        assert (await stream_row(db, stream_id)).state == "active"
    assert _sequences(receiver) == [6, 7, 8]


async def _recorded_actions(db: Database) -> list[tuple[str, dict]]:
    async with db.read() as conn:
        outbox = [
            (r.payload["action"], r.payload)
            for r in await conn.execute(select(OutboxRow.__table__).where(unsealed(conn)))
        ]
        sealed = [(r.action, orjson.loads(r.body)) for r in await conn.execute(select(AuditEventRow.__table__))]
    return outbox + sealed


async def test_410_gone_disables_the_stream_and_records_it(db: Database) -> None:
    await seed(db, 3)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    receiver.fail_next(Fault(410))
    async with Served(receiver.app) as served:
        stream_id = await create_stream(
            db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET}, name="siem"
        )
        await stage(db).run_once()
    row = await stream_row(db, stream_id)
    assert row.state == "disabled" and row.cursor == 0 and "410" in row.last_error
    disabled = [body for action, body in await _recorded_actions(db) if action == "log_stream.disabled"]
    assert len(disabled) == 1
    assert disabled[0]["actor"] == {"type": "system", "name": "relay"}
    assert disabled[0]["targets"] == [{"type": "log_stream", "name": "siem"}]
    assert await stage(db).run_once() == {}  # a disabled stream is not delivered


async def test_a_stream_failing_longer_than_allowed_is_disabled(db: Database) -> None:
    await seed(db, 3)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    receiver.fail_next(*[Fault(401)] * 50)
    async with Served(receiver.app) as served:
        stream_id = await create_stream(db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET})
        relay = stage(db, FAST.__class__(**{**_fields(FAST), "disable_after": 0.5}))
        task = asyncio.create_task(relay.run())
        states: list[str] = []
        deadline = time.monotonic() + 5
        while not states or states[-1] != "disabled":
            assert time.monotonic() < deadline, states
            states.append((await stream_row(db, stream_id)).state)
            await asyncio.sleep(0.02)
        await relay.stop()
        task.cancel()
    assert "failing" in states  # refused first, then given up on
    row = await stream_row(db, stream_id)
    assert row.cursor == 0 and "401" in row.last_error and not receiver.received
    assert [a for a, _ in await _recorded_actions(db)].count("log_stream.disabled") == 1


def _fields(settings: object) -> dict:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}  # type: ignore[attr-defined]


async def test_pause_keeps_the_backlog_and_replay_sends_again(db: Database) -> None:
    await seed(db, 10)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    async with Served(receiver.app) as served:
        stream_id = await create_stream(db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET})
        await service(db).pause(ADMIN, stream_id)
        assert await stage(db).run_once() == {}
        status = await service(db).get(ADMIN, stream_id)
        assert (status.stream.state, status.lag_events) == ("paused", 10)
        assert status.lag_seconds >= 0
        await service(db).resume(ADMIN, stream_id)
        assert await stage(db).run_once() == {stream_id: 10}
        await service(db).replay(ADMIN, stream_id, {"from_sequence": 8})
        assert await stage(db).run_once() == {stream_id: 3}
    assert [e["sequence"] for e in receiver.received] == [*range(1, 11), 8, 9, 10]
    assert receiver.batch_ids[-1] == f"{stream_id}_8_10"


async def test_filter_carries_only_the_chosen_categories_and_actions(db: Database) -> None:
    await seed(db, 12, actions=("user.provisioned", "group.created", "scim_token.created"))
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    async with Served(receiver.app) as served:
        await create_stream(
            db,
            "webhook",
            {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET},
            filter={"categories": ["scim_provisioning"], "actions": ["group.created"]},
        )
        await stage(db).run_once()
    assert {e["action"] for e in receiver.received} == {"group.created"}
    assert [e["sequence"] for e in receiver.received] == [2, 5, 8, 11]


async def test_other_organisations_events_never_reach_a_stream(db: Database) -> None:
    await seed(db, 3, organization="globex")
    await seed(db, 2)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    async with Served(receiver.app) as served:
        await create_stream(db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET})
        await stage(db).run_once()
    assert {e["organization"] for e in receiver.received} == {"acme"}
    assert len(receiver.received) == 2


async def test_during_secret_rotation_both_signatures_verify(db: Database) -> None:
    new_secret = "whsec_" + "bmV3LXNpZ25pbmcta2V5LWZvci1yb3RhdGlvbg=="
    await seed(db, 2)
    old_receiver, new_receiver = WebhookReceiver(WEBHOOK_SECRET), WebhookReceiver(new_secret)
    async with Served(old_receiver.app) as old_served, Served(new_receiver.app) as new_served:
        rotating = {"secret": new_secret, "previous_secret": WEBHOOK_SECRET}
        await create_stream(db, "webhook", {"url": f"{old_served.url}/hook", **rotating}, name="still-old")
        await create_stream(db, "webhook", {"url": f"{new_served.url}/hook", **rotating}, name="already-new")
        await stage(db).run_once()
    assert len(old_receiver.received) == len(new_receiver.received) == 2
    assert not old_receiver.rejections and not new_receiver.rejections


async def test_new_events_do_not_cut_a_backoff_short(db: Database) -> None:
    await seed(db, 3)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    receiver.fail_next(*[Fault(503)] * 1000)
    async with Served(receiver.app) as served:
        await create_stream(db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET})
        relay = stage(db, FAST.__class__(**{**_fields(FAST), "backoff_base": 0.5, "backoff_cap": 1.0}))
        task = asyncio.create_task(relay.run())
        await _until(lambda: receiver.requests >= 1)
        for _ in range(75):  # events sealed every 20 ms, each waking the stage
            relay.wake()
            await asyncio.sleep(0.02)
        await relay.stop()
        task.cancel()
    # Backing off (about 0.5 s a try) rather than answering every wake-up with a request.
    assert receiver.requests <= 10, receiver.requests
