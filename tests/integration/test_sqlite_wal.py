"""SQLite's write-ahead log is copied into the database file by a thread, not inside commits."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from scim_server.storage import Database, create_engine
from scim_server.storage.wal import BACKSTOP_PAGES

_ROWS = 400
_ROW_BYTES = 8_000  # two pages each: ~800 pages of log, under the backstop


async def _fill(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
    for i in range(_ROWS):
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO blobs (body) VALUES (:b)"), {"b": bytes([i % 256]) * _ROW_BYTES})


def _checkpointers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "sqlite-wal-checkpoint"}


async def _until(predicate: object, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


async def test_commits_reach_the_database_file_without_an_inline_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    before = _checkpointers()
    db = Database(create_engine(f"sqlite+aiosqlite:///{path}"))
    try:
        async with db.write() as conn:
            pages = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        assert pages == BACKSTOP_PAGES  # commits would not checkpoint before 10,000 pages

        await _fill(db)
        # The data (~3 MB) lands in the main file, not only in the log, shortly after the commits.
        assert await _until(lambda: path.stat().st_size > _ROWS * _ROW_BYTES)

        reader = sqlite3.connect(path)
        try:
            assert reader.execute("SELECT count(*), sum(length(body)) FROM blobs").fetchone() == (
                _ROWS,
                _ROWS * _ROW_BYTES,
            )
        finally:
            reader.close()
    finally:
        await db.dispose()
    assert _checkpointers() <= before  # disposing stops the thread


async def test_in_memory_databases_have_no_checkpointer() -> None:
    before = _checkpointers()
    db = Database(create_engine("sqlite+aiosqlite:///:memory:"))
    try:
        async with db.write() as conn:
            await conn.execute(text("SELECT 1"))
        assert _checkpointers() <= before
    finally:
        await db.dispose()


async def test_each_process_checkpoints_only_the_files_it_wrote(tmp_path: Path) -> None:
    """The server commits to the main file, the relay's process to the sealed log's: each copies
    its own write-ahead log back, never the other's."""
    from scim_server.storage.wal import WalCheckpointer

    main, log = tmp_path / "main.db", tmp_path / "main-audit.db"
    # Both writers stay open: closing a file's last connection would checkpoint it.
    writers = [sqlite3.connect(path, isolation_level=None) for path in (main, log)]
    for conn in writers:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)")
        for i in range(50):
            conn.execute("INSERT INTO blobs (body) VALUES (?)", (bytes([i]) * 8_000,))
    sizes = {p: p.stat().st_size for p in (main, log)}
    checkpointer = WalCheckpointer(str(main), attach={"audit_log": str(log)}, interval=0.02)
    try:
        checkpointer.wrote("main")
        assert await _until(lambda: main.stat().st_size > sizes[main])
        await asyncio.sleep(0.2)
        assert log.stat().st_size == sizes[log], "the log's pages were copied by a process that did not write them"
        checkpointer.wrote("audit_log")
        assert await _until(lambda: log.stat().st_size > sizes[log])
    finally:
        checkpointer.stop()
        for conn in writers:
            conn.close()
