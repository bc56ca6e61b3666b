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
            assert reader.execute("SELECT count(*), sum(length(body)) FROM blobs").fetchone() == (_ROWS, _ROWS * _ROW_BYTES)
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
