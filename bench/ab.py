"""POST /Users from two (or more) source trees, side by side: the A/B behind every "before → after".

    git archive HEAD~1 | tar -x -C /tmp/before && ln -s "$PWD/.venv" /tmp/before/.venv
    .venv/bin/python bench/ab.py before=/tmp/before after=. [--seconds 8] [--rounds 4] [--env K=V ...]

Each tree's ``bench/tools/serve_plain.py`` serves its own code (``PYTHONPATH`` is the tree) on
its own fresh SQLite database; wrk (16 connections, ``lua/post_users.lua``) runs against each in
turn, round after round, alternating the order, and the medians are compared. ``--env`` sets the
same environment for every server (``SCIMTRAIL_AUDIT_ENABLED=false``, …), ``--env-for NAME:K=V``
one server's, so one tree can run twice, configured two ways, e.g. where the relay runs:

    .venv/bin/python bench/ab.py off=. inproc=. child=. --env-for off:SCIMTRAIL_AUDIT_ENABLED=false \
        --env-for inproc:SCIMTRAIL_RELAY=inprocess

Trees from before ``SCIMTRAIL_RELAY`` read ``SCIMTRAIL_RELAY_PROCESS=false`` (inside the server)
and ``SCIMTRAIL_RUN_RELAY=false`` (no relay) instead, and later trees refuse those two: give each
tree its own with ``--env-for``. A tree whose migrations
are older than the current one cannot open a database the current ``scimtrail org create`` made:
compare commits on the same side of a migration, or put a wrapper ``bench/tools/serve_plain.py``
in a directory of its own that adapts the database first.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _harness import PYTHON, Server, WrkResult, free_port, machine_note, parse_args, post_users, say, table
from _scimtrail import Dataset, build_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+", help="NAME=PATH of a source tree")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--env", action="append", default=[], help="K=V for every server")
    parser.add_argument(
        "--env-for",
        action="append",
        default=[],
        metavar="NAME:K=V",
        help="K=V for one tree's server only: the same tree twice, configured two ways",
    )
    args = parse_args(parser, seconds=1, rounds=1)
    trees = [(name, Path(path).resolve()) for name, _, path in (t.partition("=") for t in args.trees)]
    env = dict(kv.partition("=")[::2] for kv in args.env)
    own: dict[str, dict[str, str]] = {name: {} for name, _ in trees}
    for item in args.env_for:
        name, _, kv = item.partition(":")
        if name not in own:
            parser.error(f"--env-for names no tree: {name}")
        key, _, value = kv.partition("=")
        own[name][key] = value
    say(machine_note())

    data: dict[str, Dataset] = {name: build_dataset(0) for name, _ in trees}
    servers: dict[str, Server] = {}
    for name, path in trees:
        port = free_port()
        servers[name] = Server(
            name,
            [PYTHON, str(path / "bench" / "tools" / "serve_plain.py"), "--host", "127.0.0.1", "--port", str(port)],
            port,
            env={
                "SCIMTRAIL_DATABASE_URL": data[name].url,
                "SCIMTRAIL_LOG_LEVEL": "warning",
                "PYTHONPATH": str(path),
                **env,
                **own[name],
            },
            log=data[name].directory / "server.log",
        )
    runs: dict[str, list[WrkResult]] = {name: [] for name in servers}
    try:
        for server in servers.values():
            server.start(timeout=120)
        for r in range(args.rounds):
            order = list(servers.items())
            for name, server in order if r % 2 == 0 else reversed(order):
                res = post_users(server, data[name].token, seconds=args.seconds)
                runs[name].append(res)
                say(f"  round {r + 1} {name:10s} {res.line()}")
    finally:
        for server in servers.values():
            server.stop()
        for dataset in data.values():
            dataset.remove()

    baseline = runs[trees[0][0]]
    first = statistics.median(x.rps for x in baseline)
    rows = []
    for name, results in runs.items():
        rps = statistics.median(x.rps for x in results)
        # Each round's ratio against the first tree's run in the same round: the machine's
        # speed drifts from round to round, and neighbouring runs share the drift.
        paired = statistics.median(x.rps / b.rps for x, b in zip(results, baseline, strict=True))
        rows.append(
            [
                name,
                f"{rps:.0f}",
                f"{rps / first:.2f}×",
                f"{paired:.2f}×",
                f"{statistics.median(x.p50_ms for x in results):.1f} ms",
                f"{statistics.median(x.p99_ms for x in results):.1f} ms",
                f"{statistics.median(x.cpu_ms for x in results):.2f} ms",
            ]
        )
    say()
    say(table(["tree", "req/s", "ratio of medians", "median of round ratios", "p50", "p99", "server CPU/req"], rows))


if __name__ == "__main__":
    main()
