"""``SCIMTRAIL_RELAY``: where the audit relay runs, resolved once, and what the server does for each.

The child process itself (started, restarted, its counters at ``/metrics``, gone with the
server) is proved end to end in ``tests/audit/test_log_file.py``.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from scim_server.relay_placement import ServerRelay
from scim_server.settings import ConfigurationError, RelayPlacement, Settings
from scim_server.storage import Database
from scim_server.storage.engine import log_database
from tests.support.server import LiveServer

_FILE = "sqlite+aiosqlite:///./scimtrail.db"
_MEMORY = "sqlite+aiosqlite://"
_SHARED_MEMORY = "sqlite+aiosqlite:///file:x?mode=memory&cache=shared&uri=true"
_POSTGRES = "postgresql+asyncpg://u:p@db.example/scimtrail"


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        (_FILE, RelayPlacement.CHILD),
        (_MEMORY, RelayPlacement.INPROCESS),
        (_SHARED_MEMORY, RelayPlacement.INPROCESS),
        (_POSTGRES, RelayPlacement.INPROCESS),
    ],
)
def test_the_default_follows_the_database(database_url: str, expected: RelayPlacement) -> None:
    assert Settings.from_env({"SCIMTRAIL_DATABASE_URL": database_url}).relay is expected
    assert Settings.from_env({}, database_url=database_url).relay is expected


@pytest.mark.parametrize(
    ("value", "database_url", "expected"),
    [
        ("child", _FILE, RelayPlacement.CHILD),
        ("inprocess", _FILE, RelayPlacement.INPROCESS),
        ("EXTERNAL", _POSTGRES, RelayPlacement.EXTERNAL),
        (" off ", _MEMORY, RelayPlacement.OFF),
        ("inprocess", _POSTGRES, RelayPlacement.INPROCESS),
    ],
)
def test_a_chosen_placement(value: str, database_url: str, expected: RelayPlacement) -> None:
    settings = Settings.from_env({"SCIMTRAIL_RELAY": value, "SCIMTRAIL_DATABASE_URL": database_url})
    assert settings.relay is expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCIMTRAIL_RELAY": "process"}, "SCIMTRAIL_RELAY='process': expected one of child, inprocess, external, off"),
        ({"SCIMTRAIL_RELAY": "child", "SCIMTRAIL_DATABASE_URL": _MEMORY}, "SCIMTRAIL_RELAY=child: an in-memory database"),
        ({"SCIMTRAIL_RELAY": "external", "SCIMTRAIL_DATABASE_URL": _SHARED_MEMORY}, "SCIMTRAIL_RELAY=external: an in-memory"),
        ({"SCIMTRAIL_RELAY": "child", "SCIMTRAIL_DATABASE_URL": _POSTGRES}, "SCIMTRAIL_RELAY=child is for a SQLite file"),
        ({"SCIMTRAIL_RUN_RELAY": "false"}, "SCIMTRAIL_RUN_RELAY is replaced by SCIMTRAIL_RELAY"),
        ({"SCIMTRAIL_RELAY_PROCESS": "false"}, "SCIMTRAIL_RELAY_PROCESS is replaced by SCIMTRAIL_RELAY"),
        ({"SCIMTRAIL_MAX_BODY_BYTES": "1MB"}, "SCIMTRAIL_MAX_BODY_BYTES='1MB': expected a whole number"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_in_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


class _FakeRelay:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")


def _pruning() -> bool:
    return any(task.get_name() == "audit-outbox-pruner" for task in asyncio.all_tasks())


@pytest.mark.parametrize("placement", [RelayPlacement.INPROCESS, RelayPlacement.EXTERNAL, RelayPlacement.OFF])
async def test_what_the_server_runs_for_each_placement(db: Database, database_url: str, placement: RelayPlacement) -> None:
    relay = _FakeRelay()
    server_relay = ServerRelay(Settings.from_env({}, database_url=database_url, relay=placement), db, relay)  # type: ignore[arg-type]
    await server_relay.start()
    try:
        assert relay.calls == (["start"] if placement is RelayPlacement.INPROCESS else [])
        # With the sealer in another process (or none), a SQLite server prunes the outbox itself;
        # PostgreSQL's sealer deletes what it sealed.
        assert _pruning() == (placement is not RelayPlacement.INPROCESS and db.dialect == "sqlite")
        # This process's own relay counters are the ones /metrics serves.
        assert server_relay.metrics() is None
    finally:
        await server_relay.stop()
    assert relay.calls == (["start", "stop"] if placement is RelayPlacement.INPROCESS else [])
    assert not _pruning()


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
