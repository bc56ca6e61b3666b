"""Where POST /Users spends its CPU: the same load against our server with parts switched off.

    .venv/bin/python bench/post_ablation.py [--seconds 8] [--rounds 2]

Servers, all on fresh SQLite databases and running at once:

- as shipped;
- request logs off (``SCIMTRAIL_LOG_LEVEL=warning``);
- the relay off (``SCIMTRAIL_RELAY=off``: outbox rows are written, not sealed);
- audit off (``SCIMTRAIL_AUDIT_ENABLED=false``: no outbox row, no relay work);
- all three off.

wrk (1 thread, 16 connections, ``lua/post_users.lua``) drives each in turn, round after round.
The figure to read is the server's CPU per request, which the machine's other load disturbs
least; the differences between rows are what each part costs.
"""

from __future__ import annotations

import argparse
import statistics

from _harness import Server, WrkResult, machine_note, post_users, say, table
from _scimtrail import Dataset, build_dataset, our_server

VARIANTS: dict[str, dict[str, str]] = {
    "as shipped": {},
    "request logs off": {"SCIMTRAIL_LOG_LEVEL": "warning"},
    "relay off": {"SCIMTRAIL_RELAY": "off"},
    "audit off": {"SCIMTRAIL_AUDIT_ENABLED": "false", "SCIMTRAIL_RELAY": "off"},
    "logs + relay + audit off": {
        "SCIMTRAIL_LOG_LEVEL": "warning",
        "SCIMTRAIL_RELAY": "off",
        "SCIMTRAIL_AUDIT_ENABLED": "false",
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    say(machine_note())
    datasets: dict[str, Dataset] = {name: build_dataset(0) for name in VARIANTS}
    servers: dict[str, Server] = {name: our_server(datasets[name], **env) for name, env in VARIANTS.items()}
    runs: dict[str, list[WrkResult]] = {name: [] for name in VARIANTS}
    try:
        for server in servers.values():
            server.start(timeout=120)
        for r in range(args.rounds):
            for name, server in servers.items():
                res = post_users(server, datasets[name].token, seconds=args.seconds)
                runs[name].append(res)
                say(f"  round {r + 1} {name:26s} {res.line()}")
    finally:
        for server in servers.values():
            server.stop()
        for dataset in datasets.values():
            dataset.remove()
    base = statistics.median(x.cpu_ms or 0 for x in runs["as shipped"])
    rows = []
    for name, results in runs.items():
        cpu = statistics.median(x.cpu_ms or 0 for x in results)
        rps = statistics.median(x.rps for x in results)
        rows.append([name, f"{rps:.0f}", f"{cpu:.2f} ms", f"{cpu - base:+.2f} ms"])
    say()
    say(f"POST /Users, wrk -t1 -c16 -d{args.seconds}s, median of {args.rounds} rounds")
    say(table(["server", "req/s", "server CPU/req", "vs as shipped"], rows))


if __name__ == "__main__":
    main()
