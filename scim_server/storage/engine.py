"""Engine construction: one place that knows how SQLite and PostgreSQL differ at connect time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from audit import AFTER_COMMIT

from . import sqlite_driver
from .wal import BACKSTOP_PAGES, WalCheckpointer

__all__ = ["Database", "create_engine"]


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine with our JSON codec and SQLite's pragmas."""
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads, "echo": echo}
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        database = make_url(url).database or ":memory:"
        kwargs["async_creator"] = sqlite_driver.connector(database, uri=database.startswith("file:"))
        if database == ":memory:":
            kwargs["poolclass"] = StaticPool
        else:
            # One writer at a time anyway; a few readers. Each pooled connection holds its own page cache.
            kwargs.update(pool_size=4, max_overflow=4)
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=False)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN is ours to emit (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Checkpoints run on a thread of their own (storage.wal); this is only the backstop.
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        # busy_timeout stays 0: the driver retries a busy database without blocking the event loop.
        cursor.close()
        # SQLite's lower() folds ASCII only; filters on caseExact=false attributes fold with this,
        # exactly as Python's str.lower() does (see storage.filter_sql).
        dbapi_connection.create_function("scim_lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction takes the write lock up front: a deferred transaction that upgrades
        # from read to write can fail with SQLITE_BUSY at once instead of waiting for the lock.
        if conn.get_execution_options().get("write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _checkpointer(engine: AsyncEngine) -> WalCheckpointer | None:
    """A WAL checkpointer for a file-backed SQLite database; in-memory ones have no log."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:") or "mode=memory" in database:
        return None
    return WalCheckpointer(database, uri=database.startswith("file:"))


def _run(callbacks: Any) -> None:
    """After-commit callbacks (``audit.AFTER_COMMIT``): run once the transaction is durable."""
    for callback in callbacks:
        callback()


class Database:
    """The engine plus the process-wide write gate.

    SQLite allows one writer at a time. Queueing writers on an asyncio lock in-process is far
    cheaper than letting them collide on the file lock; other processes (a separate relay) still
    meet the file lock, which ``BEGIN IMMEDIATE`` waits on (see ``sqlite_driver``). Since writes
    are serialised anyway, they share one connection held open for the process's life, instead of
    a pool checkout, reset and return around every write. PostgreSQL needs neither.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_gate: asyncio.Lock | None = asyncio.Lock() if self.dialect == "sqlite" else None
        self._writer: AsyncConnection | None = None
        self._checkpointer = _checkpointer(engine)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        if self._write_gate is None:
            async with self.engine.connect() as conn:
                try:
                    async with conn.begin():
                        yield conn
                finally:
                    callbacks = conn.info.pop(AFTER_COMMIT, ())
            _run(callbacks)
            return
        async with self._write_gate:
            writer = self._writer
            if writer is None or writer.closed or writer.invalidated:
                writer = self._writer = await (await self.engine.connect()).execution_options(write=True)
            try:
                async with writer.begin():
                    yield writer
            except BaseException:
                writer.info.pop(AFTER_COMMIT, None)
                if writer.invalidated:
                    await writer.close()
                    self._writer = None
                raise
            callbacks = writer.info.pop(AFTER_COMMIT, ())
        if self._checkpointer is not None:
            self._checkpointer.wrote()
        _run(callbacks)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (one consistent snapshot for a page and its total)."""
        async with self.engine.connect() as conn:
            async with conn.begin():
                yield conn

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        await self.engine.dispose()
