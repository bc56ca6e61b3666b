"""``SCIMTRAIL_RELAY`` at a real server's start: ``external`` leaves sealing to ``scimtrail relay``,
and a setting that cannot work is one line, not a traceback."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from scim_server.storage.engine import log_database
from tests.support.server import LiveServer

_BIN = str(Path(sys.executable).parent / "scimtrail")


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def _sealed(db: Path, name: str) -> int:
    log = sqlite3.connect(f"file:{log_database(str(db))}?mode=ro", uri=True)
    try:
        return int(log.execute("SELECT count(*) FROM audit_events WHERE target_name = ?", (name,)).fetchone()[0])
    finally:
        log.close()


@pytest.mark.slow
def test_external_leaves_sealing_to_scimtrail_relay(tmp_path: Path) -> None:
    """docker-compose.yml's arrangement: the server runs no relay; ``scimtrail relay`` beside it seals."""
    db = tmp_path / "scimtrail.db"
    server = LiveServer(f"sqlite:///{db}", extra_env={"SCIMTRAIL_RELAY": "external"}, log_path=tmp_path / "server.log")
    token = server.create_org("acme")
    with server:
        assert server.process is not None and _children(server.process.pid) == []
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
            assert client.post("/Users", json={"userName": "jane@acme.example"}).status_code == 201
        time.sleep(0.5)
        assert _sealed(db, "jane@acme.example") == 0, "a server told the relay is external sealed by itself"
        relay = subprocess.Popen(
            [str(Path(sys.executable).parent / "scimtrail"), "relay"],
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while _sealed(db, "jane@acme.example") < 1:
                assert time.monotonic() < deadline, "scimtrail relay did not seal"
                time.sleep(0.1)
        finally:
            relay.send_signal(signal.SIGTERM)
            assert relay.wait(30) == 0


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"SCIMTRAIL_RELAY": "sideways"},
            "error: SCIMTRAIL_RELAY='sideways': expected one of child, inprocess, external, off",
        ),
        (
            {"SCIMTRAIL_RELAY": "child", "SCIMTRAIL_DATABASE_URL": "sqlite://"},
            "error: SCIMTRAIL_RELAY=child: an in-memory",
        ),
        ({"SCIMTRAIL_RUN_RELAY": "false"}, "error: SCIMTRAIL_RUN_RELAY is replaced by SCIMTRAIL_RELAY"),
    ],
)
def test_a_bad_relay_setting_is_one_line_at_start(tmp_path: Path, env: dict[str, str], line: str) -> None:
    done = subprocess.run(
        [_BIN, "serve", "--port", "1"],
        env={**os.environ, "SCIMTRAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(line), done.stderr
