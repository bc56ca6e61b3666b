"""The delivery engine's three ends of a send, against audit.testing's fakes (no receiver, no database server).

The same outcomes against real receivers on both databases are in tests/integration/streams.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

import audit
from audit.relay.sinks import Batch, Delivered, Outcome, Rejected, RejectScope, Retry
from audit.testing import MemoryStreams, MockSink

SECRET_KEY = "unit-test-server-key"
QUICK = audit.DeliverySettings(
    batch_size=100, poll_interval=0.05, linger=0.0, refresh_interval=0.05, backoff_base=0.01, backoff_cap=0.05
)


def drafts(count: int, organization: str = "acme") -> list[audit.EventDraft]:
    return [
        audit.EventDraft(
            organization=organization,
            action="user.provisioned",
            actor=audit.Actor("scim_token", "okta-prod"),
            targets=(audit.Target("user", f"user{i}@acme.example"),),
        )
        for i in range(count)
    ]


@pytest.fixture
async def streams() -> AsyncIterator[MemoryStreams]:
    async with MemoryStreams(secret_key=SECRET_KEY) as memory:
        yield memory


def stage(streams: MemoryStreams) -> audit.DeliveryStage:
    return audit.DeliveryStage(streams, secret_key=SECRET_KEY, settings=QUICK)


async def test_delivered_sends_the_events_in_order_and_advances_the_cursor(streams: MemoryStreams) -> None:
    sink = MockSink()
    stream_id = await streams.add_stream(sink.type_name, secrets={"secret": "s3cr3t"})
    await streams.add_events(drafts(3))
    await streams.add_events(drafts(2, organization="globex"))  # another organisation's: not this stream's

    assert await stage(streams).run_once() == {stream_id: 3}

    assert sink.sequences == [[1, 2, 3]]
    assert sink.batches[0].id == f"{stream_id}_1_3" and sink.batches[0].organization == "acme"
    assert sink.configs == [{"secret": "s3cr3t"}]  # built through the registry, secrets opened
    stream = await streams.stream(stream_id)
    assert (stream.cursor, stream.state, stream.last_error) == (3, "active", None)
    assert stream.last_success_at is not None

    await streams.add_events(drafts(1))
    assert await stage(streams).run_once() == {stream_id: 1}
    assert sink.sequences == [[1, 2, 3], [4]]
    assert (await streams.stream(stream_id)).cursor == 4


async def test_batches_are_cut_to_the_sinks_limit(streams: MemoryStreams) -> None:
    sink = MockSink(max_batch_events=2)
    stream_id = await streams.add_stream(sink.type_name)
    await streams.add_events(drafts(5))

    assert await stage(streams).run_once() == {stream_id: 5}
    assert sink.sequences == [[1, 2], [3, 4], [5]]


async def test_retry_holds_the_cursor_and_the_same_batch_is_sent_again(streams: MemoryStreams) -> None:
    sink = MockSink(Retry("receiver busy"))
    stream_id = await streams.add_stream(sink.type_name)
    await streams.add_events(drafts(3))

    assert await stage(streams).run_once() == {stream_id: 0}
    stream = await streams.stream(stream_id)
    assert (stream.cursor, stream.state, stream.last_error) == (0, "active", "receiver busy")
    assert stream.failing_since is not None

    sink.answer(Delivered())
    assert await stage(streams).run_once() == {stream_id: 3}
    assert [b.id for b in sink.batches] == [f"{stream_id}_1_3"] * 2
    assert sink.sequences == [[1, 2, 3]] * 2
    stream = await streams.stream(stream_id)
    assert (stream.cursor, stream.failing_since) == (3, None)


async def test_a_running_stage_backs_off_no_sooner_than_retry_after_then_resends(streams: MemoryStreams) -> None:
    sent_at: list[float] = []

    def busy_once(batch: Batch) -> Outcome:
        sent_at.append(time.monotonic())
        return Retry("receiver busy", after=0.3) if len(sent_at) == 1 else Delivered()

    sink = MockSink(busy_once)
    stream_id = await streams.add_stream(sink.type_name)
    await streams.add_events(drafts(2))
    running = stage(streams)
    task = asyncio.create_task(running.run())
    try:
        async with asyncio.timeout(10):
            while (await streams.stream(stream_id)).cursor != 2:
                await asyncio.sleep(0.02)
    finally:
        await running.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert [type(o) for o in sink.outcomes] == [Retry, Delivered]
    assert sink.batches[0] == sink.batches[1]
    assert sent_at[1] - sent_at[0] >= 0.3


async def test_a_rejected_batch_is_dead_lettered_and_the_stream_moves_on(streams: MemoryStreams) -> None:
    sink = MockSink(lambda batch: Rejected("malformed event") if batch.first_sequence == 1 else Delivered())
    stream_id = await streams.add_stream(sink.type_name)
    await streams.add_events(drafts(2))

    assert await stage(streams).run_once() == {stream_id: 0}
    [letter] = await streams.dead_letters(stream_id)
    assert (letter["batch_id"], letter["first_sequence"], letter["last_sequence"]) == (f"{stream_id}_1_2", 1, 2)
    assert letter["reason"] == "malformed event" and letter["organization"] == "acme"
    stream = await streams.stream(stream_id)
    assert (stream.cursor, stream.state, stream.last_error) == (2, "failing", "malformed event")

    await streams.add_events(drafts(1))
    assert await stage(streams).run_once() == {stream_id: 1}
    stream = await streams.stream(stream_id)
    assert (stream.cursor, stream.state, stream.failing_since) == (3, "active", None)


async def test_a_stream_rejection_holds_the_cursor_and_marks_the_stream_failing(streams: MemoryStreams) -> None:
    sink = MockSink(Rejected("bad credentials", RejectScope.STREAM))
    stream_id = await streams.add_stream(sink.type_name)
    await streams.add_events(drafts(2))

    assert await stage(streams).run_once() == {stream_id: 0}
    stream = await streams.stream(stream_id)
    assert (stream.cursor, stream.state, stream.last_error) == (0, "failing", "bad credentials")
    assert await streams.dead_letters(stream_id) == []


async def test_gone_disables_the_stream_and_records_why(streams: MemoryStreams) -> None:
    sink = MockSink(Rejected("endpoint removed", RejectScope.GONE))
    stream_id = await streams.add_stream(sink.type_name, name="siem")
    await streams.add_events(drafts(1))

    assert await stage(streams).run_once() == {stream_id: 0}
    stream = await streams.stream(stream_id)
    assert (stream.cursor, stream.state, stream.last_error) == (0, "disabled", "endpoint removed")
    [event] = await streams.recorded()
    assert event["action"] == "log_stream.disabled" and event["targets"] == [{"type": "log_stream", "name": "siem"}]
    assert await stage(streams).run_once() == {}  # a disabled stream is not delivered


async def test_a_sink_that_raises_is_retried_not_fatal(streams: MemoryStreams) -> None:
    def broken(batch: Batch) -> Outcome:
        raise RuntimeError("bug in the sink")

    sink = MockSink(broken)
    stream_id = await streams.add_stream(sink.type_name)
    await streams.add_events(drafts(1))

    assert await stage(streams).run_once() == {stream_id: 0}
    stream = await streams.stream(stream_id)
    assert (stream.cursor, stream.last_error) == (0, "internal error in the sink")
