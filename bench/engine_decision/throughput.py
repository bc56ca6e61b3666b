"""Protocol engine decision: end-to-end HTTP throughput of the options, side by side.

    .venv/bin/python bench/engine_decision/throughput.py [--users 10000] [--seconds 8] [--rounds 3]

Three servers, each one uvicorn worker (uvloop + httptools) on 127.0.0.1:

- scim2-server in-memory: the package's own storage and ASGI application (the peer figure);
- option A: scim2-server's ASGI application over our SQL storage (``scim2_sql.py``);
- option B: the hand-built prototype (``handbuilt.py``);

A and B each over their own copy of the same seeded SQLite database. wrk (1 thread, 16
connections) drives ``POST /Users`` with unique userNames, then ``GET /Users?filter=userName eq``
on random seeded users. Runs are interleaved round by round and the median round is reported.
"""

from __future__ import annotations

import argparse
import shutil
import asyncio
import statistics
import sys
import uuid
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent), str(_HERE.parent.parent)]

from _harness import machine_note, PYTHON, Server, WrkResult, free_port, say, table, workdir, wrk  # noqa: E402
from run import TOKEN, seeded_database  # noqa: E402


async def _seed(tmp: Path, users: int) -> None:
    for name in ("a.db", "b.db", "c.db", "d.db", "e.db"):
        db, *_ = await seeded_database(tmp / name, users, 10)
        await db.dispose()


def _median(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", default="memory,A,B,B'", help="servers to run, of: memory, A, B, B', B'+, B'++ (comma-separated)"
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",")]

    say(machine_note())
    tmp = workdir("engine-http")
    say(f"seeding {args.users:,} users into five databases ({tmp})")
    asyncio.run(_seed(tmp, args.users))

    ports = {name: free_port() for name in ("memory", "A", "B", "B'", "B'+", "B'++")}
    servers = {
        "memory": Server(
            "scim2-server-memory",
            [PYTHON, str(_HERE.parent / "peers" / "scim2_server_memory.py"), "--port", str(ports["memory"]), "--token", TOKEN],
            ports["memory"],
        ),
        "A": Server("option-a", [PYTHON, str(_HERE / "serve.py"), "scim2-sql", str(tmp / "a.db"), str(ports["A"]), TOKEN], ports["A"]),
        "B": Server("option-b", [PYTHON, str(_HERE / "serve.py"), "handbuilt", str(tmp / "b.db"), str(ports["B"]), TOKEN], ports["B"]),
        "B'": Server(
            "option-b-thread",
            [PYTHON, str(_HERE / "serve.py"), "handbuilt-thread", str(tmp / "c.db"), str(ports["B'"]), TOKEN],
            ports["B'"],
        ),
        "B'+": Server(
            "option-b-lean",
            [PYTHON, str(_HERE / "serve.py"), "handbuilt-lean", str(tmp / "d.db"), str(ports["B'+"]), TOKEN],
            ports["B'+"],
        ),
        "B'++": Server(
            "option-b-batch",
            [PYTHON, str(_HERE / "serve.py"), "handbuilt-batch", str(tmp / "e.db"), str(ports["B'++"]), TOKEN],
            ports["B'++"],
        ),
    }
    servers = {name: server for name, server in servers.items() if name in chosen}
    labels = {
        "memory": "scim2-server, in-memory storage (peer)",
        "A": "A: scim2-server + our SQL storage",
        "B": "B: hand-built on scim2-models (aiosqlite)",
        "B'": "B': B with one SQLite thread hop per request",
        "B'+": "B'+: B' with module-level statements + audit outbox row",
        "B'++": "B'++: B'+ with group commit of concurrent writes",
    }
    prefixes = {"memory": "/v2", "A": "/v2", "B": "/scim/v2", "B'": "/scim/v2", "B'+": "/scim/v2", "B'++": "/scim/v2"}
    posts: dict[str, list[WrkResult]] = {k: [] for k in servers}
    gets: dict[str, list[WrkResult]] = {k: [] for k in servers if k != "memory"}
    try:
        for server in servers.values():
            server.start()
        trivial = next(k for k in servers if k != "memory")
        ceiling = wrk(f"http://127.0.0.1:{ports[trivial]}/healthz", seconds=args.seconds)
        say(f"wrk ceiling (GET /healthz on {trivial}): {ceiling.line()}")
        for r in range(args.rounds):
            for key in servers:
                env = {"BENCH_PATH": f"{prefixes[key]}/Users", "BENCH_TOKEN": TOKEN, "BENCH_TAG": uuid.uuid4().hex[:8]}
                res = wrk(f"http://127.0.0.1:{ports[key]}", script="post_users.lua", env=env, seconds=args.seconds, server=servers[key])
                posts[key].append(res)
                say(f"  round {r + 1} POST /Users {key:6s} {res.line()}")
            for key in gets:
                env = {"BENCH_PATH": f"{prefixes[key]}/Users", "BENCH_TOKEN": TOKEN, "BENCH_USERS": str(args.users)}
                res = wrk(f"http://127.0.0.1:{ports[key]}", script="get_filter.lua", env=env, seconds=args.seconds, server=servers[key])
                gets[key].append(res)
                say(f"  round {r + 1} GET filter  {key:6s} {res.line()}")
        rss = {key: server.rss_kib()[1] // 1024 for key, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    peer = statistics.median(r.rps for r in posts["memory"]) if "memory" in posts else float("nan")
    rows = []
    for key in servers:
        p = _median(posts[key])
        g = _median(gets[key]) if key in gets else None
        rows.append(
            [
                labels[key],
                f"{p.rps:.0f}",
                f"{p.p99_ms:.1f} ms",
                f"{statistics.median(r.rps for r in posts[key]) / peer:.2f}×",
                f"{g.rps:.0f}" if g else "—",
                f"{g.p50_ms:.2f} ms" if g else "—",
                f"{p.cpu_ms:.2f} / " + (f"{g.cpu_ms:.2f} ms" if g else "—"),
                f"{rss[key]} MB",
            ]
        )
    say()
    say(f"HTTP, wrk -t1 -c16, {args.seconds}s per run, median of {args.rounds} interleaved rounds, {args.users:,} users seeded")
    say(
        table(
            ["server", "POST /Users req/s", "POST p99", "vs peer", "GET filter req/s", "GET filter p50", "CPU/req POST / GET", "peak RSS"],
            rows,
        )
    )
    say(f"load generator ceiling: {ceiling.rps:.0f} req/s (GET /healthz)")


if __name__ == "__main__":
    main()
