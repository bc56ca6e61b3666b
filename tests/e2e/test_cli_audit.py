"""The operator's audit commands against a real server's database: export, verify, tamper."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from scim_server.storage.engine import log_database
from tests.support.server import LiveServer

pytestmark = pytest.mark.slow


def _provisioned(server: LiveServer) -> list[dict[str, object]]:
    done = server.run("audit", "export", "--org", "acme", "--format", "ndjson", "--action", "user.provisioned")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_export_and_verify_and_tamper_detection(tmp_path: Path) -> None:
    db = tmp_path / "scimtrail.db"
    server = LiveServer(f"sqlite+aiosqlite:///{db}")
    token = server.create_org("acme")
    with server:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
            for i in range(5):
                r = client.post(
                    "/Users", json={"userName": f"u{i}@acme.example", "emails": [{"value": f"u{i}@acme.example"}]}
                )
                assert r.status_code == 201
        deadline = time.monotonic() + 20
        while len(_provisioned(server)) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
    events = _provisioned(server)
    assert sorted(e["targets"][0]["name"] for e in events) == [f"u{i}@acme.example" for i in range(5)]  # type: ignore[index]

    out = tmp_path / "audit.csv"
    done = server.run("audit", "export", "--org", "acme", "--format", "csv", "--output", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sum(r["action"] == "user.provisioned" for r in rows) == 5

    ok = server.run("audit", "verify", "--org", "acme")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: acme:")

    # Someone with write access to the log's file edits a sealed event behind the triggers' back.
    with sqlite3.connect(log_database(str(db))) as raw:
        raw.execute("DROP TRIGGER audit_events_no_update")
        target = raw.execute(
            "SELECT sequence FROM audit_events WHERE organization='acme' AND action='user.provisioned' ORDER BY sequence LIMIT 1 OFFSET 2"
        ).fetchone()[0]
        raw.execute(
            "UPDATE audit_events SET body = replace(body, 'user.provisioned', 'user.updated') "
            "WHERE organization='acme' AND sequence=?",
            (target,),
        )
    broken = server.run("audit", "verify", "--org", "acme")
    assert broken.returncode == 1
    assert f"first broken sequence {target}" in broken.stderr
