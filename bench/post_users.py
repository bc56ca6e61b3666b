"""POST /Users throughput and p99 at 16 concurrent clients: scimtrail vs scim2-server, side by side.

    .venv/bin/python bench/post_users.py [--seconds 10] [--rounds 3]

Both servers are one uvicorn worker (uvloop + httptools) on 127.0.0.1: ours on SQLite as shipped
(audit outbox, in-process relay, request logs), scim2-server's own ASGI application over its
in-memory storage (``peers/scim2_server_memory.py``). wrk (1 thread, 16 connections, Lua script
``lua/post_users.lua``: unique userName per request, bearer token) runs against each in turn,
round after round; the median round is reported. The load generator's ceiling is wrk against
our ``GET /healthz`` in the same run.

Targets (issue #2): ≥ 3× scim2-server's throughput, p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import uuid

from _harness import PYTHON, BENCH, Server, WrkResult, free_port, machine_note, say, table, wrk
from _scimtrail import Figure, build_dataset, our_server, report

PEER_TOKEN = "peer-bench-token"


def _median(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def measure(seconds: int, rounds: int, connections: int) -> list[Figure]:
    dataset = build_dataset(0)
    ours = our_server(dataset)
    peer_port = free_port()
    peer = Server(
        "scim2-server-memory",
        [PYTHON, str(BENCH / "peers" / "scim2_server_memory.py"), "--port", str(peer_port), "--token", PEER_TOKEN],
        peer_port,
    )
    runs: dict[str, list[WrkResult]] = {"scimtrail": [], "scim2-server": []}
    try:
        ours.start(timeout=120)
        peer.start()
        base = f"http://127.0.0.1:{ours.port}"
        ceiling = wrk(f"{base}/healthz", connections=connections, seconds=seconds, server=ours)
        say(f"load generator ceiling, wrk GET /healthz on scimtrail: {ceiling.line()}")
        for r in range(rounds):
            for name, server, path, token in (
                ("scimtrail", ours, "/scim/v2/Users", dataset.token),
                ("scim2-server", peer, "/v2/Users", PEER_TOKEN),
            ):
                env = {"BENCH_PATH": path, "BENCH_TOKEN": token, "BENCH_TAG": uuid.uuid4().hex[:10]}
                res = wrk(
                    f"http://127.0.0.1:{server.port}",
                    script="post_users.lua",
                    env=env,
                    connections=connections,
                    seconds=seconds,
                    server=server,
                )
                if res.non_2xx or res.socket_errors:
                    say(res.raw)
                    raise SystemExit(f"{name}: {res.non_2xx} non-2xx responses, {res.socket_errors} socket errors")
                runs[name].append(res)
                say(f"  round {r + 1} {name:12s} {res.line()}")
        rss = ours.rss_kib()[1] // 1024
    finally:
        ours.stop()
        peer.stop()
        dataset.remove()

    a, b = _median(runs["scimtrail"]), _median(runs["scim2-server"])
    ratio = statistics.median(x.rps for x in runs["scimtrail"]) / statistics.median(x.rps for x in runs["scim2-server"])
    say()
    say(f"POST /Users, wrk -t1 -c{connections} -d{seconds}s, median of {rounds} interleaved rounds")
    say(
        table(
            ["server", "req/s", "p50", "p90", "p99", "server CPU/req"],
            [
                [n, f"{x.rps:.0f}", f"{x.p50_ms:.1f} ms", f"{x.p90_ms:.1f} ms", f"{x.p99_ms:.1f} ms", f"{x.cpu_ms:.2f} ms"]
                for n, x in (("scimtrail (SQLite)", a), ("scim2-server (in-memory)", b))
            ],
        )
    )
    say(f"wrk ceiling on this machine (GET /healthz): {ceiling.rps:.0f} req/s; scimtrail peak RSS {rss} MB")
    return [
        Figure("throughput vs scim2-server", f"{ratio:.2f}× ({a.rps:.0f} vs {b.rps:.0f} req/s)", "≥ 3×", ratio >= 3),
        Figure("p99 at 16 clients", f"{a.p99_ms:.1f} ms", "< 20 ms", a.p99_ms < 20),
        Figure("load generator headroom", f"{ceiling.rps / a.rps:.1f}× ({ceiling.rps:.0f} req/s)", "≫ 1×", ceiling.rps > 3 * a.rps),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    say(machine_note())
    report("POST /Users against the issue's targets", measure(args.seconds, args.rounds, args.connections))


if __name__ == "__main__":
    main()
