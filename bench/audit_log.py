"""Audit log at scale: a filtered page, free-text search and a CSV export over 1,000,000 events.

    .venv/bin/python bench/audit_log.py --events 1000000 --db /tmp/audit-bench.db

Builds the log once through the real outbox and sealer (reused if the file already holds it),
then measures on SQLite: filtered pages (category + 30 days + actor, action + 7 days, targets),
free-text queries (a rare and a common word, two words, a prefix), and a full CSV export
(throughput, peak RSS of the exporting process).

Targets (issue #5): a filtered page p50 < 20 ms, free text p50 < 100 ms, CSV export > 50k
events/s in < 200 MB, all at 1,000,000 events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import parse_args, workdir
from sqlalchemy import func, insert, select

from audit import Actor, EventDraft, RequestContext, Target, count_events
from audit.backends import backend_for, prune_outbox, seal_pending
from audit.query import EventFilter, export_events, search_page
from audit.redaction import to_canonical
from audit.tables import AuditEventRow, OutboxRow
from scim_server.storage.engine import Database, create_engine
from scim_server.storage.migrations import upgrade

ORG = "acme"
_ACTORS = [Actor("scim_token", "okta-prod"), Actor("oauth_client", "entra"), Actor("admin", "ops@acme.example")]
_ACTIONS = [
    ("user.provisioned", 3),
    ("user.updated", 10),
    ("user.deprovisioned", 2),
    ("group.member_added", 6),
    ("group.member_removed", 3),
    ("group.updated", 1),
    ("oauth_token.issued", 2),
    ("log_stream.updated", 1),
]
_GROUPS = ["Engineering", "Sales", "Finance", "Support", "Marketing", "Legal", "Security", "Design"]


def _draft(i: int, total: int, now: datetime, span_days: int, rng: random.Random) -> EventDraft:
    action = rng.choices([a for a, _ in _ACTIONS], weights=[w for _, w in _ACTIONS])[0]
    actor = _ACTORS[0] if rng.random() < 0.6 else rng.choice(_ACTORS)
    user = f"user{rng.randrange(50_000)}@acme.example"
    targets = (
        (Target("group", rng.choice(_GROUPS)), Target("user", user))
        if action.startswith("group.")
        else (Target("user", user),)
    )
    metadata = (
        {"changed": rng.sample(["name.givenName", "name.familyName", "title", "active", "emails"], 2)}
        if action.endswith("updated")
        else {}
    )
    # Oldest first, so sequence and time rise together as they would in production.
    occurred = now - timedelta(days=span_days) + timedelta(seconds=i * span_days * 86400 / total)
    return EventDraft(
        ORG, action, actor, targets, RequestContext("203.0.113.7", "Okta SCIM Client", f"req_{i}"), metadata, occurred
    )


async def _build(db: Database, events: int) -> None:
    async with db.read() as conn:
        have = (await conn.execute(select(func.count()).select_from(AuditEventRow.__table__))).scalar_one()
    if have >= events:
        print(f"reusing {have} sealed events")
        return
    rng, now, started = random.Random(7), datetime.now(UTC), time.perf_counter()
    for start in range(have, events, 10_000):
        canonical = (to_canonical(_draft(i, events, now, 120, rng)) for i in range(start, min(start + 10_000, events)))
        rows = [{"event_id": e["id"], "organization": ORG, "payload": e} for e in canonical]
        async with db.write() as conn:
            await conn.execute(insert(OutboxRow.__table__), rows)
        while True:
            async with db.write() as conn:
                if not (await seal_pending(conn, limit=5000)).count:
                    break
        async with db.write() as conn:  # the relay's search indexing, as it runs behind the sealer
            await backend_for(conn).index_sealed(conn, limit=20_000)
            await prune_outbox(conn)
        print(f"\r{min(start + 10_000, events)} events sealed", end="", flush=True)
    print(f"\nbuilt in {time.perf_counter() - started:.0f} s")


async def _p50(label: str, runs: int, query: object) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        n = await query()  # type: ignore[operator]
        timings.append((time.perf_counter() - started) * 1000)
    p50 = statistics.median(timings)
    print(f"{label:<48} p50 {p50:7.2f} ms   p95 {sorted(timings)[int(runs * 0.95) - 1]:7.2f} ms   ({n} rows)")
    return p50


async def _queries(db: Database) -> None:
    now = datetime.now(UTC)

    def page(**params: list[str]):  # type: ignore[no-untyped-def]
        f = EventFilter.from_params(params, now=now)

        async def run() -> int:
            async with db.read() as conn:
                return len((await search_page(conn, ORG, f, limit=100)).events)

        return run

    await _p50("page: category + 30d + actor", 50, page(category=["scim_provisioning"], range=["30d"], actor=["entra"]))
    await _p50("page: action + 7d", 50, page(action=["user.deprovisioned"], range=["7d"]))
    await _p50("page: target (one user)", 50, page(target=["user4242@acme.example"]))
    await _p50("page: target (a group: ~45k events)", 50, page(target=["Engineering"]))
    await _p50("page: target (a group) + 7d", 50, page(target=["Engineering"], range=["7d"]))
    await _p50("page: target (no such name)", 50, page(target=["nobody@acme.example"]))
    await _p50("free text: rare (one user's email)", 30, page(q=["user4242@acme.example"]))
    await _p50("free text: common word (a group)", 30, page(q=["engineering"]))
    await _p50("free text: two words + category", 30, page(q=["finance removed"], category=["scim_provisioning"]))
    await _p50("free text: prefix (user42*)", 30, page(q=["user42*"]))


def _export(url: str, path: str) -> None:
    async def run() -> None:
        db = Database(create_engine(url))
        total = await count_events(db, ORG)
        size, started = 0, time.perf_counter()
        cpu_started = time.process_time()
        with open(path, "wb") as out:
            async for chunk in export_events(db, ORG, "csv", actor=Actor("system", "bench")):
                size += len(chunk)
                out.write(chunk)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # CPU time (all threads) next to wall time: on a shared machine the wall figure is
        # whatever the other processes leave; events per CPU-second is what the code costs.
        print(
            f"csv export: {total} events, {size / 1e6:.0f} MB in {elapsed:.1f} s = {total / elapsed:,.0f} events/s "
            f"({total / cpu:,.0f} per CPU-second, {cpu:.1f} s CPU); peak RSS {rss:.0f} MB; load {os.getloadavg()[0]:.1f}"
        )
        await db.dispose()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", default="/tmp/audit-bench.db", help="the log is kept here and reused by the next run")
    parser.add_argument("--export-only", action="store_true")
    scratch = None
    args = parse_args(parser, events=2_000, db="")
    if args.smoke and not args.db:
        scratch = workdir("audit-log")
        args.db = str(scratch / "audit-bench.db")
    url = f"sqlite+aiosqlite:///{args.db}"
    export = f"{args.db}-export.csv"
    try:
        if args.export_only:
            _export(url, export)
            return
        asyncio.run(_build_and_query(url, args.events))
        # The export runs in a fresh process so its peak RSS is the export's own.
        subprocess.run([sys.executable, __file__, "--db", args.db, "--export-only"], check=True)
    finally:
        Path(export).unlink(missing_ok=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


async def _build_and_query(url: str, events: int) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    db = Database(engine)
    await _build(db, events)
    await _queries(db)
    await db.dispose()


if __name__ == "__main__":
    main()
