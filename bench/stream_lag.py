"""End-to-end log-stream lag: commit of an audit event → receipt by a webhook receiver.

    .venv/bin/python bench/stream_lag.py [--rate 1000] [--seconds 10]

One process plays the embedded server: writers commit one audit event per write transaction
at ``--rate`` per second (the shape of SCIM writes), while the relay seals and its delivery
stage ships to a webhook receiver in another process. The receiver measures, per event,
receipt time − ``occurred_at``. Target (issue 6): p99 < 2 s.
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
from audit.relay import Relay
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
    import sys, time, orjson, uvicorn
    from datetime import datetime
    lags = []
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/stats":
            ordered = sorted(lags)
            pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None
            payload = orjson.dumps({"count": len(ordered), "p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0)})
        else:
            now = time.time()
            for event in orjson.loads(body):
                lags.append(now - datetime.fromisoformat(event["occurred_at"]).timestamp())
            payload = b""
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", http="httptools", loop="uvloop")
    """
)


async def _writer(db: Database, rate: float, seconds: float, counter: list[int]) -> None:
    actor = audit.Actor("scim_token", "okta-prod")
    interval = 1.0 / rate
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate) + 1
        while counter[0] < due:
            async with db.write() as conn:
                await audit.record(
                    conn,
                    audit.EventDraft(
                        "bench", "user.updated", actor, (audit.Target("user", f"u{counter[0]}@bench.example"),)
                    ),
                )
            counter[0] += 1
        await asyncio.sleep(interval)


async def main(rate: float, seconds: float, writers: int, linger: float, without_delivery: bool = False) -> None:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port)])
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await upgrade(engine)
        db = Database(engine)
        relay: Relay | None = None
        try:
            caller = Caller("bench", audit.Actor("admin", "bench@bench.example"), "admin")
            await StreamService(db, SecretBox(KEY), destinations=LOCAL).create(
                caller,
                {
                    "type": "webhook",
                    "name": "bench",
                    "config": {"url": f"http://127.0.0.1:{port}/hook", "secret": WHSEC},
                },
            )
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/stats")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
            stage = DeliveryStage(db, secret_key=KEY, settings=DeliverySettings(linger=linger), destinations=LOCAL)
            relay = Relay(db, secret_key=KEY, stages=[] if without_delivery else [stage])
            await relay.start()
            counters = [[0] for _ in range(writers)]
            started = time.perf_counter()
            await asyncio.gather(*(_writer(db, rate / writers, seconds, c) for c in counters))
            written = sum(c[0] for c in counters)
            achieved = written / (time.perf_counter() - started)
            print(f"wrote {written} events at {achieved:,.0f}/s (target {rate:,.0f}/s) for {seconds:.0f} s")
            if without_delivery:
                return  # the baseline: what the writers reach with sealing alone
            deadline = time.monotonic() + 30
            async with httpx.AsyncClient() as client:
                while (stats := (await client.get(f"http://127.0.0.1:{port}/stats")).json())["count"] < written + 1:
                    assert time.monotonic() < deadline, stats
                    await asyncio.sleep(0.1)
            print(f"commit → receipt lag: p50 {stats['p50']:.3f} s, p99 {stats['p99']:.3f} s, max {stats['max']:.3f} s")
        finally:
            if relay is not None:
                await relay.stop()
            await db.dispose()
            receiver.terminate()
            receiver.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--linger", type=float, default=DeliverySettings().linger)
    parser.add_argument("--without-delivery", action="store_true", help="seal only: the write-rate baseline")
    args = parse_args(parser, rate=200, seconds=1)
    asyncio.run(main(args.rate, args.seconds, args.writers, args.linger, args.without_delivery))
