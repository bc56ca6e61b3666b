"""Log-stream delivery throughput: sealed events → webhook receiver on 127.0.0.1.

    .venv/bin/python bench/stream_delivery.py [--events 100000] [--batch 500]

Seeds an SQLite database with sealed events (the product's own record + seal path), starts a
minimal webhook receiver in its own process (it counts events, it does not verify signatures,
so the figure is the relay's cost), then times one stream's DeliveryStage from start until its
cursor reaches the last sequence. Target (issue 6): ≥ 20,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import free_port, parse_args

import audit
from audit.access import Caller
from audit.backends import seal_pending
from audit.relay.delivery import DeliverySettings, DeliveryStage
from audit.streams import SecretBox, StreamService

#: The receiver runs on 127.0.0.1, which streams may reach only when allowed.
LOCAL = audit.DestinationPolicy(allow_private=True)
from scim_server.storage.engine import Database, create_engine  # noqa: E402
from scim_server.storage.migrations import upgrade  # noqa: E402

KEY = "bench-secret-key"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

_RECEIVER = textwrap.dedent(
    """
    import sys, orjson, uvicorn
    count = 0
    async def app(scope, receive, send):
        global count
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/count":
            payload = str(count).encode()
        else:
            count += len(orjson.loads(body))
            payload = b""
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", http="httptools", loop="uvloop")
    """
)


async def _seed(db: Database, events: int) -> None:
    actor = audit.Actor("scim_token", "okta-prod")
    for start in range(0, events, 5000):
        drafts = [
            audit.EventDraft(
                "bench",
                "user.updated",
                actor,
                (audit.Target("user", f"u{i}@bench.example"),),
                metadata={"changed": ["active"]},
            )
            for i in range(start, min(events, start + 5000))
        ]
        async with db.write() as conn:
            await audit.record_many(conn, drafts)
        async with db.write() as conn:
            while (await seal_pending(conn, limit=5000)).count:
                pass


async def main(events: int, batch: int) -> None:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port)])
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await upgrade(engine)
        db = Database(engine)
        try:
            caller = Caller("bench", audit.Actor("admin", "bench@bench.example"), "admin")
            status = await StreamService(db, SecretBox(KEY), destinations=LOCAL).create(
                caller,
                {
                    "type": "webhook",
                    "name": "bench",
                    "config": {"url": f"http://127.0.0.1:{port}/hook", "secret": WHSEC},
                },
            )
            started = time.perf_counter()
            await _seed(db, events)
            total = events + 1  # and the stream's own log_stream.created
            print(f"seeded {total} sealed events in {time.perf_counter() - started:.1f} s")
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/count")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
            stage = DeliveryStage(
                db, secret_key=KEY, settings=DeliverySettings(batch_size=batch, poll_interval=0.01), destinations=LOCAL
            )
            started, cpu_started = time.perf_counter(), time.process_time()
            delivered = await stage.run_once()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            received = int(httpx.get(f"http://127.0.0.1:{port}/count").text)
            assert delivered[status.stream.id] == total == received, (delivered, received)
            print(f"delivered {total} events in {elapsed:.2f} s: {total / elapsed:,.0f} events/s (batch {batch})")
            # CPU seconds of this process, all its threads (the delivery stage runs here): the ceiling on an idle core.
            print(f"relay CPU {cpu:.2f} s: {total / cpu:,.0f} events per CPU-second")
        finally:
            await db.dispose()
            receiver.terminate()
            receiver.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parse_args(parser, events=2_000)
    asyncio.run(main(args.events, args.batch))
