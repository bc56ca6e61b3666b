"""Audit overhead and seal lag: POST /Users with auditing on vs off, side by side in one run.

    .venv/bin/python bench/audit_overhead.py [--seconds 10] [--rounds 3]

Two ``scimtrail serve`` processes on their own SQLite files, identical but for
``SCIMTRAIL_AUDIT_ENABLED``, with the relay where ``--relay`` says (``SCIMTRAIL_RELAY``): in the
child process the audited server starts beside itself (``--relay child``, the embedded default),
inside the server (``--relay inprocess``) or beside it, started by this script
(``--relay external``, ``tools/run_relay.py``); wrk
(16 connections, ``lua/post_users.lua``) runs against each in turn, round after round, which
goes first alternating, and the median of the rounds' audited/unaudited ratios is the figure
(the ratio of the two medians is printed beside it). While the audited server is under
load, a sampler reads its outbox every 50 ms: the age of the oldest event still waiting to be
sealed bounds the seal lag from above (an event is sealed no later than the first sample that
no longer sees it), and its p99 over the run is the figure reported.

Targets (issue #5): audited throughput ≥ 90% of unaudited; seal lag p99 < 1 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from _harness import BENCH, PYTHON, Server, WrkResult, free_port, machine_note, parse_args, post_users, say, table
from _scimtrail import Dataset, Figure, build_dataset, report


class _LagSampler(threading.Thread):
    """Samples the age of the oldest unsealed outbox event, read-only, every ``interval``."""

    def __init__(self, path: str, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self._path = path
        self._interval = interval
        self._halt = threading.Event()
        self.ages: list[float] = []

    def run(self) -> None:
        db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=5)
        # The sealer's watermark is in the log's own file (migration 0005): rows at or below it
        # are sealed and wait only to be pruned.
        base, _, suffix = self._path.rpartition(".")
        db.execute("ATTACH DATABASE ? AS log", (f"file:{base}-audit.{suffix}?mode=ro",))
        try:
            while not self._halt.wait(self._interval):
                row = db.execute(
                    "SELECT json_extract(payload, '$.occurred_at') FROM audit_outbox"
                    " WHERE pk > (SELECT outbox_through FROM log.audit_seal_state) ORDER BY pk LIMIT 1"
                ).fetchone()
                age = 0.0
                if row and row[0]:
                    age = (datetime.now(UTC) - datetime.fromisoformat(row[0])).total_seconds()
                self.ages.append(max(age, 0.0))
        finally:
            db.close()

    def stop(self) -> list[float]:
        self._halt.set()
        self.join()
        return self.ages


def _children_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process's live children (the relay process ``scimtrail serve`` starts)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            stat = Path(f"/proc/{child}/stat")
            if stat.exists():
                fields = stat.read_text().rpartition(")")[2].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _server(dataset: Dataset, name: str, *, relay: str, **env: str) -> Server:
    """``scimtrail serve`` from the source tree, its relay where ``relay`` says."""
    port = free_port()
    return Server(
        name,
        [PYTHON, str(BENCH / "tools" / "serve_plain.py"), "--host", "127.0.0.1", "--port", str(port)],
        port,
        env={
            "SCIMTRAIL_DATABASE_URL": dataset.url,
            "SCIMTRAIL_LOG_LEVEL": "warning",
            "SCIMTRAIL_RELAY": relay,
            **env,
        },
        log=dataset.directory / f"server-{name}.log",
    )


def _relay_process(dataset: Dataset) -> subprocess.Popen[bytes]:
    """The relay as its own process (``tools/run_relay.py``, what ``scimtrail relay`` runs)."""
    return subprocess.Popen(
        [PYTHON, str(BENCH / "tools" / "run_relay.py")],
        env={**os.environ, "SCIMTRAIL_DATABASE_URL": dataset.url, "SCIMTRAIL_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _median(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def measure(seconds: int, rounds: int, connections: int, relay: str) -> list[Figure]:
    audited_data, plain_data = build_dataset(0), build_dataset(0)
    audited = _server(audited_data, "audit-on", relay=relay, SCIMTRAIL_AUDIT_ENABLED="true")
    plain = _server(plain_data, "audit-off", relay=relay, SCIMTRAIL_AUDIT_ENABLED="false")
    relay_proc = _relay_process(audited_data) if relay == "external" else None
    runs: dict[str, list[WrkResult]] = {"audit on": [], "audit off": []}
    lags: list[float] = []
    relay_cpu_ms: list[float] = []
    try:
        audited.start(timeout=120)
        plain.start(timeout=120)
        pair = (("audit on", audited, audited_data), ("audit off", plain, plain_data))
        for r in range(rounds):
            # Alternate which goes first: a server run right after the other meets its tail of
            # background work (checkpoints, the relay finishing its batch).
            for name, server, data in pair if r % 2 == 0 else reversed(pair):
                sampler = _LagSampler(data.url.split("///", 1)[1]) if name == "audit on" else None
                if sampler:
                    sampler.start()
                    child_cpu = _children_cpu_seconds(server.pid)
                res = post_users(server, data.token, seconds=seconds, connections=connections)
                if sampler:
                    time.sleep(1.0)  # let the relay finish the tail
                    lags += sampler.stop()
                    relay_cpu_ms.append((_children_cpu_seconds(server.pid) - child_cpu) * 1000 / max(res.requests, 1))
                runs[name].append(res)
                say(f"  round {r + 1} {name:10s} {res.line()}")
    finally:
        if relay_proc is not None:
            relay_proc.send_signal(signal.SIGINT)
            try:
                relay_proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                relay_proc.kill()
        audited.stop()
        plain.stop()
        audited_data.remove()
        plain_data.remove()

    on, off = _median(runs["audit on"]), _median(runs["audit off"])
    of_medians = statistics.median(x.rps for x in runs["audit on"]) / statistics.median(
        x.rps for x in runs["audit off"]
    )
    # Each round's two runs are minutes apart at most and share the machine's drift (other
    # tenants come and go); the median of the rounds' own ratios is the steadier figure.
    ratio = statistics.median(a.rps / b.rps for a, b in zip(runs["audit on"], runs["audit off"], strict=True))
    lag_p99 = sorted(lags)[max(int(len(lags) * 0.99) - 1, 0)] if lags else float("nan")
    say()
    say(f"POST /Users, wrk -t1 -c{connections} -d{seconds}s, median of {rounds} interleaved rounds, relay {relay}")
    say(
        table(
            ["server", "req/s", "p50", "p99", "server CPU/req"],
            [
                [n, f"{x.rps:.0f}", f"{x.p50_ms:.1f} ms", f"{x.p99_ms:.1f} ms", f"{x.cpu_ms:.2f} ms"]
                for n, x in (("audit on", on), ("audit off", off))
            ],
        )
    )
    say(f"audited vs unaudited: median of the rounds' ratios {ratio:.1%}, ratio of the medians {of_medians:.1%}")
    say(f"seal lag (oldest unsealed event, sampled every 50 ms): p99 {lag_p99:.3f} s, max {max(lags, default=0):.3f} s")
    if relay == "child":
        say(f"the relay process's own CPU per audited request (median): {statistics.median(relay_cpu_ms):.3f} ms")
    return [
        Figure(
            "audited throughput vs unaudited (median of round ratios)",
            f"{ratio:.1%} (medians {on.rps:.0f} vs {off.rps:.0f} req/s)",
            "≥ 90%",
            ratio >= 0.9,
        ),
        Figure("seal lag p99 under full write load", f"{lag_p99:.3f} s", "< 1 s", lag_p99 < 1.0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--relay",
        choices=("child", "inprocess", "external"),
        default="child",
        help="SCIMTRAIL_RELAY: the relay in the child the server starts (the embedded default), inside"
        " the server, or in a process of its own that this script starts",
    )
    args = parse_args(parser, seconds=1, rounds=1)
    say(machine_note())
    figures = measure(args.seconds, args.rounds, args.connections, args.relay)
    report(f"Audit overhead and seal lag (relay {args.relay}) against the issue's targets", figures)


if __name__ == "__main__":
    main()
