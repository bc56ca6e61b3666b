"""Issue #19: one large request must not freeze the server for everyone else.

Each case sends one large request from one organisation while a probe client of *another*
organisation sends small ``GET /Users/{id}`` one after another; it prints the large request's
status and duration and the probe's p50/p99/max (target p99 < 50 ms). Cases: ``POST /Users`` with
4,000 emails and with 3,000 phoneNumbers (over the limit of 1,000 values: refused at once) and
with 1,000 emails (at the limit: stored); Okta's full membership push, ``PATCH replace members``,
of a 19,000-member group and of a 50,000-member group with the members they already have
(target < 1 s), the ``PUT`` of the same 19,000 as a reference, and the first push of 50,000
members into an empty group.

``--tree PATH`` serves another source tree's code on the same database (e.g. ``--tree /work/main``
for the figures before the change); a request that outlives ``--timeout`` is reported as such and
the server restarted.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import re
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from _harness import PYTHON, ROOT, SCIMTRAIL, Server, free_port, machine_note, parse_args, say, table
from _scimtrail import Dataset, build_dataset
from _seed import group_id, org_id_of, seed_group, seed_users, user_id, user_name

from scim_server.storage.engine import Database, create_engine

PROBE_ORG = "probe"
#: Large enough for the 50,000-member push (~3.5 MB as sent here).
BODY_LIMIT = str(8 * 1024 * 1024)


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: Any
    target: str


def _members(count: int) -> list[dict[str, str]]:
    # As Okta sends them: the id and the display it knows.
    return [{"value": user_id(n), "display": user_name(n)} for n in range(count)]


def _replace(count: int) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "members", "value": _members(count)}],
    }


def _groups(scale: float) -> dict[str, int]:
    return {"g19k": int(19_000 * scale), "g50k": int(50_000 * scale)}


def cases(scale: float = 1.0) -> list[Case]:
    """The cases at ``scale`` (1 = the issue's sizes; smoke runs use a tiny fraction)."""
    n19k, n50k = _groups(scale).values()
    emails = [{"value": f"user{i}@example.com", "type": "work"} for i in range(4000)]
    phones = [{"value": f"+1 555 {i:07d}", "type": "work"} for i in range(3000)]
    return [
        Case("POST /Users, 4,000 emails", "POST", "/scim/v2/Users", {"userName": "many-emails", "emails": emails}, "—"),
        Case(
            "POST /Users, 3,000 phoneNumbers",
            "POST",
            "/scim/v2/Users",
            {"userName": "many-phones", "phoneNumbers": phones},
            "—",
        ),
        Case(
            "POST /Users, 1,000 emails",
            "POST",
            "/scim/v2/Users",
            {"userName": "limit-emails", "emails": emails[:1000]},
            "—",
        ),
        Case(f"PATCH replace members, {n19k:,}", "PATCH", f"/scim/v2/Groups/{group_id('g19k')}", _replace(n19k), "—"),
        Case(
            f"PUT group, same {n19k:,} (reference)",
            "PUT",
            f"/scim/v2/Groups/{group_id('g19k')}",
            {"displayName": "g19k", "members": _members(n19k)},
            "—",
        ),
        Case(
            f"PATCH replace members, {n50k:,}", "PATCH", f"/scim/v2/Groups/{group_id('g50k')}", _replace(n50k), "< 1 s"
        ),
        Case(
            f"PATCH replace members, {n50k:,} into an empty group",
            "PATCH",
            f"/scim/v2/Groups/{group_id('empty')}",
            _replace(n50k),
            "—",
        ),
    ]


class Probe(threading.Thread):
    """Small GETs of another organisation's user, one after another, until stopped."""

    def __init__(self, port: int, token: str, path: str) -> None:
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.headers = {"Authorization": f"Bearer {token}"}
        self.samples: list[float] = []
        self.errors = 0
        self.halt = threading.Event()
        #: When the probe's request now in flight was sent (None between requests).
        self.sent: float | None = None

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        while not self.halt.is_set():
            t0 = self.sent = time.perf_counter()
            try:
                conn.request("GET", self.path, headers=self.headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.samples.append((time.perf_counter() - t0) * 1000)
            self.sent = None
            self.errors += not ok
            self.halt.wait(0.005)  # ~200 probes a second at most: a client, not a load test
        conn.close()


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_case(server: Server, token: str, probe_token: str, probe_path: str, case: Case, timeout: float) -> list[str]:
    payload = orjson.dumps(case.body)
    probe = Probe(server.port, probe_token, probe_path)
    probe.start()
    time.sleep(0.3)  # the probe's own baseline before the large request
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    t0 = time.perf_counter()
    try:
        conn.request(case.method, case.path, body=payload, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - t0
        status = str(response.status)
        if response.status >= 400:
            found = re.search(rb'"scimType":"(\w+)"', body)
            status += f" {found.group(1).decode()}" if found else ""
        duration = f"{elapsed * 1000:,.0f} ms"
    except TimeoutError:
        status, duration = "—", f"> {timeout:.0f} s (timed out)"
    finally:
        conn.close()
    time.sleep(0.3)
    probe.halt.set()
    probe.join(timeout=5)
    s = list(probe.samples)
    sent = probe.sent
    if probe.is_alive() and sent is not None:
        # Still waiting for its answer (the server is stuck): it counts with what it waited so far.
        s.append((time.perf_counter() - sent) * 1000)
    errors = f", {probe.errors} failed" if probe.errors else ""
    return [
        case.name,
        f"{len(payload) / 1024:,.0f} KB",
        status,
        duration,
        case.target,
        f"{statistics.median(s):.1f} / {_pct(s, 0.99):.1f} / {max(s):,.0f} ms (n={len(s)}{errors})" if s else "—",
    ]


async def _fill(url: str, scale: float) -> None:
    db = Database(create_engine(url))
    try:
        async with db.write() as conn:
            org = await org_id_of(conn, "bench")
            await seed_users(conn, org, max(_groups(scale).values()))
            for name, size in _groups(scale).items():
                await seed_group(conn, org, name, range(size))
            await seed_group(conn, org, "empty", range(0))
            probe_org = await org_id_of(conn, PROBE_ORG)
            await seed_users(conn, probe_org, 1, start=1_000_000)
    finally:
        await db.dispose()


def dataset(scale: float) -> tuple[Dataset, str]:
    data = build_dataset(0)
    out = subprocess.run(
        [SCIMTRAIL, "org", "create", PROBE_ORG],
        env={"SCIMTRAIL_DATABASE_URL": data.url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(r"\b(scim_[A-Za-z0-9_-]+)", out)
    assert found is not None, out
    t0 = time.monotonic()
    asyncio.run(_fill(data.url, scale))
    say(f"seeded {max(_groups(scale).values()):,} users and groups {_groups(scale)} in {time.monotonic() - t0:.1f} s")
    return data, found.group(1)


def server_for(tree: Path, data: Dataset) -> Server:
    port = free_port()
    return Server(
        f"scimtrail-{tree.name}",
        [PYTHON, str(tree / "bench" / "tools" / "serve_plain.py"), "--host", "127.0.0.1", "--port", str(port)],
        port,
        env={
            "SCIMTRAIL_DATABASE_URL": data.url,
            "SCIMTRAIL_LOG_LEVEL": "warning",
            "SCIMTRAIL_MAX_BODY_BYTES": BODY_LIMIT,
            "PYTHONPATH": str(tree),
        },
        log=data.directory / f"server-{tree.name}.log",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree to serve (default: this one)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one large request may take")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the groups' sizes (1 = the issue's)")
    args = parse_args(parser, scale=0.01, timeout=20.0)
    say(machine_note())
    say(f"serving {args.tree.resolve()}")
    data, probe_token = dataset(args.scale)
    probe_path = f"/scim/v2/Users/{user_id(1_000_000)}"
    rows: list[list[str]] = []

    def start() -> Server:
        return server_for(args.tree.resolve(), data).start(timeout=120)

    server = start()
    try:
        for case in cases(args.scale):
            if args.only not in case.name:
                continue
            row = run_case(server, data.token, probe_token, probe_path, case, args.timeout)
            say("  " + " | ".join(row))
            rows.append(row)
            if "timed out" in row[3]:
                server.stop()  # by its PID; still busy with the request
                server = start()
    finally:
        server.stop()
        data.remove()
    say()
    say(table(["case", "body", "status", "duration", "target", "probe p50 / p99 / max (target p99 < 50 ms)"], rows))


if __name__ == "__main__":
    main()
