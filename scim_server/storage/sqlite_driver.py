"""SQLite for SQLAlchemy's asyncio dialect, answered on the event loop's own thread.

SQLAlchemy's ``sqlite+aiosqlite`` dialect awaits the driver for every step of every statement
(cursor, execute, fetch, close, and BEGIN/SAVEPOINT/COMMIT), and aiosqlite answers each step from
its own thread. Each of those round trips is a hand-off of the GIL and a turn of the event loop:
a ``POST /Users`` took 22 of them, which cost more CPU than everything else in the request
(``docs/perf-history.md``). The statements we run are short, indexed lookups and single-row writes
whose SQLite time is a few microseconds, so running them inline is both faster and fairer.

This module gives the dialect the slice of aiosqlite's interface it uses (plugged in with
``create_async_engine(url, async_creator=...)``), with calls that complete at once. The one way a
SQLite call could stall the loop is waiting on another *process's* write lock: connections are
opened with ``busy_timeout=0`` and a busy database is retried here with ``asyncio.sleep`` instead,
so other requests keep being served while a writer elsewhere finishes. Writers in this process
never meet that case: :class:`~scim_server.storage.engine.Database` queues them on an asyncio lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["Connection", "connector"]

#: How long a statement keeps retrying while another process holds SQLite's write lock.
_BUSY_WAIT_SECONDS = 15.0
_FIRST_BACKOFF = 0.001
_MAX_BACKOFF = 0.05


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


async def _retrying(call: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + _BUSY_WAIT_SECONDS
    delay = _FIRST_BACKOFF
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_BACKOFF)


class _Cursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Cursor:
        try:
            self._cursor.execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            await _retrying(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> _Cursor:
        rows = list(seq)
        await _retrying(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Immediate:
    """Stands in for aiosqlite's work queue, through which the dialect sets ``isolation_level``."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class Connection:
    """The part of ``aiosqlite.Connection`` that SQLAlchemy's aiosqlite dialect calls."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        self._tx = _Immediate()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Cursor:
        cursor = _Cursor(self._conn.cursor())
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        await _retrying(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._connection = None
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    # Savepoints for storage.engine's group commit, sent straight to SQLite: one unit of a shared
    # transaction each, at a few microseconds instead of a statement's round through SQLAlchemy.
    # SQLAlchemy never sees them, so they must be released or rolled back before it acts again.

    def savepoint(self, name: str) -> None:
        self._conn.execute(f"SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self._conn.execute(f"RELEASE {name}")

    def rollback_to(self, name: str) -> None:
        self._conn.execute(f"ROLLBACK TO {name}")
        self._conn.execute(f"RELEASE {name}")

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def sqlite3_connection(self) -> sqlite3.Connection:
        """The connection underneath, for statements the host sends past SQLAlchemy (``audit.HostTransaction.sqlite``)."""
        return self._conn

    def stop(self) -> None:
        self._connection = None
        self._conn.close()


def connector(database: str, *, uri: bool = False, attach: Mapping[str, str] | None = None) -> Callable[[], Any]:
    """The ``async_creator`` for one database (a file path, ``:memory:``, or a ``file:`` URI),
    with ``attach`` (schema name → database) attached to every connection."""

    async def connect() -> Connection:
        # busy_timeout=0: never sleep inside SQLite on the loop's thread (see the module docstring).
        conn = sqlite3.connect(database, check_same_thread=False, uri=uri, timeout=0)
        for schema, other in (attach or {}).items():
            conn.execute(f"ATTACH DATABASE ? AS {schema}", (other,))
        return Connection(conn)

    return connect
