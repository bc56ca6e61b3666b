"""On SQLite the sealed log is a file of its own: the server and the sealer never wait on each
other's write lock, the outbox is pruned below the sealer's watermark, a database never starts
without its log (or with another database's), and ``scimtrail serve`` seals in a child process."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from audit import Relay, record, record_many, verify
from audit.backends import prune_outbox, seal_pending, unsealed
from audit.tables import OUTBOX
from scim_server.storage import create_engine, upgrade
from scim_server.storage.engine import Database, log_database
from tests.integration.audit.conftest import provisioned
from tests.support.server import LiveServer


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Database:
    db = Database(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'scimtrail.db'}"))
    await upgrade(db.engine)
    yield db  # type: ignore[misc]
    await db.dispose()


def _hold_write_lock(path: str) -> sqlite3.Connection:
    """Another process's write transaction on one file, left open."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_the_log_lives_beside_the_database() -> None:
    assert log_database("/var/lib/scimtrail/scimtrail.db") == "/var/lib/scimtrail/scimtrail-audit.db"
    assert log_database("./data/idp") == "./data/idp-audit"
    assert log_database("/srv/v1.2/db") == "/srv/v1.2/db-audit"
    assert log_database(":memory:") == ":memory:"
    assert log_database("file:x.db?mode=ro") == "file:x.db-audit?mode=ro"


async def test_scim_writes_commit_while_the_sealer_holds_the_log(sqlite_db: Database, tmp_path: Path) -> None:
    sealer = _hold_write_lock(log_database(str(tmp_path / "scimtrail.db")))
    try:

        async def write() -> None:
            async with sqlite_db.write() as conn:
                await record(conn, provisioned("jane@acme.example"))

        # With BEGIN IMMEDIATE (which locks every attached file) this waits the driver's 15 s.
        await asyncio.wait_for(write(), timeout=2)
    finally:
        sealer.rollback()
        sealer.close()
    async with sqlite_db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(OUTBOX).where(unsealed(conn)))).scalar_one() == 1


async def test_sealing_commits_while_the_server_holds_the_main_file(sqlite_db: Database, tmp_path: Path) -> None:
    async with sqlite_db.write() as conn:
        await record_many(conn, [provisioned("jane@acme.example"), provisioned("john@acme.example")])
    server = _hold_write_lock(str(tmp_path / "scimtrail.db"))
    try:

        async def seal() -> int:
            async with sqlite_db.seal() as conn:
                return (await seal_pending(conn)).count

        assert await asyncio.wait_for(seal(), timeout=2) == 2
    finally:
        server.rollback()
        server.close()
    report = await verify(sqlite_db, "acme")
    assert report.ok and report.checked == 2


async def test_pruning_keeps_the_newest_sealed_row_so_pks_never_restart_below_the_watermark(
    sqlite_db: Database,
) -> None:
    relay = Relay(sqlite_db, holder="test")
    async with sqlite_db.write() as conn:
        await record_many(conn, [provisioned(f"u{i}@acme.example") for i in range(3)])
    assert await relay.drain() == 3
    assert await relay.prune() == 2
    async with sqlite_db.read() as conn:
        assert (await conn.execute(select(OUTBOX.c.pk))).scalars().all() == [3]
        assert (await conn.execute(text("SELECT outbox_through FROM audit_seal_state"))).scalar_one() == 3
    assert await relay.prune() == 0
    async with sqlite_db.write() as conn:
        await record(conn, provisioned("late@acme.example"))
    async with sqlite_db.read() as conn:
        assert max((await conn.execute(select(OUTBOX.c.pk))).scalars().all()) == 4
    # Exactly the new event is sealed: nothing below the watermark a second time.
    assert await relay.drain() == 1
    report = await verify(sqlite_db, "acme")
    assert report.ok and report.checked == 4


async def test_pruning_is_for_sqlite_only(db: Database) -> None:
    async with db.write() as conn:
        await record(conn, provisioned("jane@acme.example"))
    assert await Relay(db, holder="test").drain() == 1
    async with db.write() as conn:
        pruned = await prune_outbox(conn)
    async with db.read() as conn:
        left = (await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
    # SQLite keeps the newest sealed row as the pk floor; PostgreSQL's sealer deleted what it sealed.
    assert (pruned, left) == ((0, 1) if db.dialect == "sqlite" else (0, 0))


@pytest.mark.parametrize(
    ("removed", "refusal"),
    [
        # The log's file is gone (deleted, or not copied with the database).
        ("scimtrail-audit.db*", "scimtrail-audit.db is missing"),
        # The database is new, but another database's log is still beside it.
        ("scimtrail.db*", "scimtrail-audit.db already holds an audit log"),
    ],
)
async def test_a_database_starts_only_with_its_own_log(tmp_path: Path, removed: str, refusal: str) -> None:
    path = tmp_path / "scimtrail.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    await engine.dispose()
    for leftover in tmp_path.glob(removed):
        leftover.unlink()
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises(RuntimeError, match=refusal):
            await upgrade(engine)
    finally:
        await engine.dispose()


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its (killed) parent's reaper has exited all the same.
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"


@pytest.mark.slow
def test_serve_seals_in_a_child_process_that_ends_with_the_server(tmp_path: Path) -> None:
    db = tmp_path / "scimtrail.db"
    server = LiveServer(f"sqlite:///{db}", log_path=tmp_path / "server.log")
    token = server.create_org("acme")
    server.start()
    try:
        assert server.process is not None
        (relay,) = _children(server.process.pid)
        assert b"relay\x00--parent-pid" in Path(f"/proc/{relay}/cmdline").read_bytes()
        with httpx.Client(base_url=f"{server.origin}/scim/v2", headers={"Authorization": f"Bearer {token}"}) as client:
            for i in range(3):
                assert client.post("/Users", json={"userName": f"u{i}@acme.example"}).status_code == 201
        log = sqlite3.connect(f"file:{log_database(str(db))}?mode=ro", uri=True)
        deadline = time.monotonic() + 10
        while (
            sealed := log.execute("SELECT count(*) FROM audit_events WHERE action = 'user.provisioned'").fetchone()[0]
        ) < 3:
            assert time.monotonic() < deadline, f"{sealed} of 3 events sealed"
            time.sleep(0.05)
        log.close()
        # What the child counted is served at the server's /metrics (written there every second).
        deadline = time.monotonic() + 5
        while "scimtrail_audit_events_sealed_total 4.0" not in httpx.get(f"{server.origin}/metrics").text:
            assert time.monotonic() < deadline, "the relay's counters did not reach /metrics"
            time.sleep(0.1)
        # A relay that dies is started again, and seals what came meanwhile.
        os.kill(relay, signal.SIGKILL)
        with httpx.Client(base_url=f"{server.origin}/scim/v2", headers={"Authorization": f"Bearer {token}"}) as client:
            assert client.post("/Users", json={"userName": "late@acme.example"}).status_code == 201
        log = sqlite3.connect(f"file:{log_database(str(db))}?mode=ro", uri=True)
        deadline = time.monotonic() + 15
        while (
            log.execute("SELECT count(*) FROM audit_events WHERE target_name = 'late@acme.example'").fetchone()[0] < 1
        ):
            assert time.monotonic() < deadline, "no relay sealed after the first one died"
            time.sleep(0.1)
        log.close()
        (relay,) = (c for c in _children(server.process.pid) if _alive(c))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        deadline = time.monotonic() + 5
        while _alive(relay):
            assert time.monotonic() < deadline, "the relay outlived the server it was started by"
            time.sleep(0.05)
    finally:
        server.stop()
