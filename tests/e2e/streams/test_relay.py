"""Delivery inside the relay: recorded → sealed → delivered, and a crash mid-batch loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import audit
from audit.relay import Relay
from scim_server.storage.engine import Database, create_engine
from scim_server.storage.migrations import upgrade
from tests.support.receivers import Fault, Served, WebhookReceiver

from .conftest import SECRET_KEY, WEBHOOK_SECRET, create_stream, seed, stage, stream_row

_ROOT = Path(__file__).parents[3]


async def test_events_recorded_in_a_transaction_reach_the_stream_through_the_relay(db: Database) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    async with Served(receiver.app) as served:
        await create_stream(db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET})
        relay = Relay(db, secret_key=SECRET_KEY, stages=[stage(db)], poll_interval=0.02)
        await relay.start()
        try:
            started = time.monotonic()
            async with db.write() as conn:
                await audit.record(
                    conn,
                    audit.EventDraft(
                        "acme",
                        "user.provisioned",
                        audit.Actor("scim_token", "okta-prod"),
                        (audit.Target("user", "jane@acme.example"),),
                    ),
                )
            deadline = time.monotonic() + 10
            while len(receiver.received) < 2:
                assert time.monotonic() < deadline, "events did not arrive"
                await asyncio.sleep(0.01)
            lag = time.monotonic() - started
        finally:
            await relay.stop()
    assert [e["action"] for e in receiver.received] == ["log_stream.created", "user.provisioned"]
    assert [e["sequence"] for e in receiver.received] == [1, 2]
    assert lag < 2.0, f"commit-to-receipt took {lag:.2f} s"


_RELAY_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from audit.relay.delivery import DeliverySettings, DeliveryStage
    from audit.relay.sinks import DestinationPolicy
    from scim_server.storage.engine import Database, create_engine

    async def main():
        db = Database(create_engine({url!r}))
        settings = DeliverySettings(batch_size=10, poll_interval=0.05, refresh_interval=0.1,
                                    request_timeout=5, backoff_base=0.05, backoff_cap=0.2)
        await DeliveryStage(db, secret_key={key!r}, settings=settings,
                            destinations=DestinationPolicy(allow_private=True)).run()

    asyncio.run(main())
    """
)


@pytest.mark.slow
async def test_relay_killed_mid_batch_resumes_without_losing_an_event(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    db = Database(engine)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    # Every request is slow, so the kill lands while a batch is in flight.
    receiver.fail_next(*[Fault(0, delay=0.2)] * 1000)
    script = _RELAY_SCRIPT.format(root=str(_ROOT), url=url, key=SECRET_KEY)
    try:
        async with Served(receiver.app) as served:
            stream_id = await create_stream(db, "webhook", {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET})
            await seed(db, 80)  # 81 with the stream's own creation
            first = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
            try:
                deadline = time.monotonic() + 20
                while receiver.requests < 3 or len(receiver.received) < 20:
                    assert time.monotonic() < deadline, "the relay did not start delivering"
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.1)  # inside the next request's 0.2 s
                first.send_signal(signal.SIGKILL)
                first.wait(10)
            finally:
                if first.poll() is None:
                    first.kill()
            cursor_at_kill = (await stream_row(db, stream_id)).cursor
            assert 0 < cursor_at_kill < 81
            second = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
            try:
                deadline = time.monotonic() + 30
                while (await stream_row(db, stream_id)).cursor < 81:
                    assert second.poll() is None, "the restarted relay exited"
                    assert time.monotonic() < deadline, "the restarted relay did not catch up"
                    await asyncio.sleep(0.05)
            finally:
                second.terminate()
                second.wait(10)
    finally:
        await db.dispose()
    sequences = [e["sequence"] for e in receiver.unique()]
    assert sequences == list(range(1, 82))  # every event, once after dedupe, in order
