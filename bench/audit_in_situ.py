"""What the audit trail's steps cost where they run: inside the server, under POST /Users load.

    .venv/bin/python bench/audit_in_situ.py [--seconds 8] [--rounds 3]

Loop benchmarks (``audit_write_cost.py``, ``inprocess.py``) run the same code back to back, warm
in the CPU's caches; inside the server every request runs a long path between two events' audit
code, and the same steps cost two to ten times as much. This starts the audited server with the
``audit-timers`` variant (``tools/serve_variant.py``: ``perf_counter_ns`` around each step),
drives it with wrk (16 connections, ``lua/post_users.lua``) and prints each step's time per
event (and per request for the request's own share), with the main thread's CPU per request.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from _harness import BENCH, PYTHON, Server, free_port, machine_note, post_users, say, table
from _scimtrail import build_dataset


def _totals(path: Path) -> dict[str, list[int]]:
    time.sleep(0.3)  # the server writes its totals every 0.2 s
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    say(machine_note())
    dataset = build_dataset(0)
    timings = dataset.directory / "timings.json"
    port = free_port()
    server = Server(
        "audit-timers",
        [PYTHON, str(BENCH / "tools" / "serve_variant.py"), "audit-timers", "--host", "127.0.0.1", "--port", str(port)],
        port,
        env={"SCIMTRAIL_DATABASE_URL": dataset.url, "SCIMTRAIL_LOG_LEVEL": "warning", "BENCH_TIMINGS": str(timings)},
        log=dataset.directory / "server.log",
    )
    per_step: dict[str, list[tuple[float, float]]] = {}
    main_cpu: list[float] = []
    try:
        with server:
            post_users(server, dataset.token, seconds=2)  # warm up
            for r in range(args.rounds):
                before, cpu_before = _totals(timings), server.main_thread_cpu_seconds()
                result = post_users(server, dataset.token, seconds=args.seconds)
                after, cpu_after = _totals(timings), server.main_thread_cpu_seconds()
                main_cpu.append((cpu_after - cpu_before) * 1e6 / max(result.requests, 1))
                say(f"  round {r + 1}: {result.line()}  main thread {main_cpu[-1]:.0f} µs/req")
                for step, (calls, items, ns) in after.items():
                    b_calls, b_items, b_ns = before.get(step, [0, 0, 0])
                    n = items - b_items
                    if n:
                        per_step.setdefault(step, []).append(((ns - b_ns) / n / 1000, n / max(calls - b_calls, 1)))
    finally:
        dataset.remove()
    say()
    rows = [
        [step, f"{statistics.median(us for us, _ in runs):.1f}", f"{statistics.median(size for _, size in runs):.1f}"]
        for step, runs in per_step.items()
    ]
    say(table(["step", "µs per event (median of rounds)", "events per call"], rows))
    say(f"main thread CPU per request (median): {statistics.median(main_cpu):.0f} µs")


if __name__ == "__main__":
    main()
