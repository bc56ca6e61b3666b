"""POST /Users throughput and p99 at 16 concurrent clients: scimtrail vs scim2-server, side by side.

    .venv/bin/python bench/post_users.py [--seconds 10] [--rounds 3]

Three servers on 127.0.0.1, side by side:

- scimtrail, one uvicorn worker (uvloop + httptools) on SQLite as shipped (audit outbox, the
  relay beside the server, request logs);
- **scim2-server's own server**, the one the issue names: the ``scim2-server`` command of the
  PyPI package, in-memory, with a bearer token (a threaded ``wsgiref`` server);
- scim2-server's ASGI application over the same in-memory storage under the same uvicorn as
  ours (``peers/scim2_server_memory.py``): a stricter comparison than the issue asks for,
  since it removes the peer's server from the comparison and leaves only the protocol code.

wrk (1 thread, 16 connections, Lua script ``lua/post_users.lua``: unique userName per request,
bearer token) runs against each in turn, round after round; the median round is reported. The
load generator's ceiling is wrk against our ``GET /healthz`` in the same run.

Targets (issue #2): ≥ 3× scim2-server's own server's throughput, p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import statistics

from _harness import (
    BENCH,
    PYTHON,
    ROOT,
    Server,
    WrkResult,
    free_port,
    machine_note,
    parse_args,
    post_users,
    say,
    table,
    wrk,
)
from _scimtrail import Figure, build_dataset, our_server, report

PEER_TOKEN = "peer-bench-token"


def _median(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def measure(seconds: int, rounds: int, connections: int) -> list[Figure]:
    dataset = build_dataset(0)
    ours = our_server(dataset)
    peer_port, own_port = free_port(), free_port()
    peer = Server(
        "scim2-server-uvicorn",
        [PYTHON, str(BENCH / "peers" / "scim2_server_memory.py"), "--port", str(peer_port), "--token", PEER_TOKEN],
        peer_port,
    )
    own = Server(
        "scim2-server-own",
        [str(ROOT / ".venv" / "bin" / "scim2-server"), "--port", str(own_port), "--bearer-token", PEER_TOKEN],
        own_port,
    )
    names = ("scimtrail", "scim2-server own", "scim2-server uvicorn")
    runs: dict[str, list[WrkResult]] = {n: [] for n in names}
    try:
        ours.start(timeout=120)
        peer.start()
        own.start()
        base = f"http://127.0.0.1:{ours.port}"
        ceiling = wrk(f"{base}/healthz", connections=connections, seconds=seconds, server=ours)
        say(f"load generator ceiling, wrk GET /healthz on scimtrail: {ceiling.line()}")
        for r in range(rounds):
            for name, server, path, token in (
                ("scimtrail", ours, "/scim/v2/Users", dataset.token),
                ("scim2-server own", own, "/v2/Users", PEER_TOKEN),
                ("scim2-server uvicorn", peer, "/v2/Users", PEER_TOKEN),
            ):
                res = post_users(server, token, seconds=seconds, connections=connections, path=path)
                runs[name].append(res)
                say(f"  round {r + 1} {name:20s} {res.line()}")
        rss = ours.rss_kib()[1] // 1024
    finally:
        ours.stop()
        peer.stop()
        own.stop()
        dataset.remove()

    med = {n: statistics.median(x.rps for x in runs[n]) for n in names}
    a, b, c = (_median(runs[n]) for n in names)
    ratio, strict = med["scimtrail"] / med["scim2-server own"], med["scimtrail"] / med["scim2-server uvicorn"]
    say()
    say(f"POST /Users, wrk -t1 -c{connections} -d{seconds}s, median of {rounds} interleaved rounds")
    say(
        table(
            ["server", "req/s", "p50", "p90", "p99", "server CPU/req"],
            [
                [
                    n,
                    f"{x.rps:.0f}",
                    f"{x.p50_ms:.1f} ms",
                    f"{x.p90_ms:.1f} ms",
                    f"{x.p99_ms:.1f} ms",
                    f"{x.cpu_ms:.2f} ms",
                ]
                for n, x in (
                    ("scimtrail (SQLite)", a),
                    ("scim2-server's own server (in-memory)", b),
                    ("scim2-server under uvicorn (in-memory)", c),
                )
            ],
        )
    )
    say(f"wrk ceiling on this machine (GET /healthz): {ceiling.rps:.0f} req/s; scimtrail peak RSS {rss} MB")
    return [
        Figure(
            "throughput vs scim2-server's own server",
            f"{ratio:.2f}× ({a.rps:.0f} vs {b.rps:.0f} req/s)",
            "≥ 3×",
            ratio >= 3,
        ),
        Figure(
            "(stricter) vs scim2-server under uvicorn", f"{strict:.2f}× ({a.rps:.0f} vs {c.rps:.0f} req/s)", "—", None
        ),
        Figure("p99 at 16 clients", f"{a.p99_ms:.1f} ms", "< 20 ms", a.p99_ms < 20),
        Figure(
            "load generator headroom",
            f"{ceiling.rps / a.rps:.1f}× ({ceiling.rps:.0f} req/s)",
            "≫ 1×",
            ceiling.rps > 3 * a.rps,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parse_args(parser, seconds=1, rounds=1)
    say(machine_note())
    report("POST /Users against the issue's targets", measure(args.seconds, args.rounds, args.connections))


if __name__ == "__main__":
    main()
