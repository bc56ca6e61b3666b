"""A drop-in for aiosqlite that runs each SQLite call inline, on the event loop's thread.

SQLAlchemy's ``sqlite+aiosqlite`` dialect awaits the driver for every step of every statement
(cursor, execute, fetch, close; BEGIN, SAVEPOINT, COMMIT, the pool's reset), and aiosqlite
answers each from its own thread: one POST /Users is ~22 thread round trips, each a GIL
hand-off that costs 50–200 µs on this machine. This shim gives the dialect the same interface
with calls that complete at once, so the round trips vanish and nothing else in the product
changes. It is plugged in with ``create_async_engine(url, async_creator=...)``.

It is a measuring device for ``bench/README.md``'s recommendation, not production code: a
statement that waits for SQLite's lock (another process writing) or scans for long blocks the
event loop, so a production version needs ``busy_timeout=0`` with an asynchronous retry, and
long scans kept off the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any


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
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> _Cursor:
        self._cursor.executemany(sql, seq)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Immediately:
    """Stands in for aiosqlite's work queue, which the dialect uses to set isolation_level."""

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
    """The slice of ``aiosqlite.Connection`` that SQLAlchemy's dialect uses."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection = connection
        self._tx = _Immediately()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Cursor:
        return _Cursor(self._conn.execute(sql, parameters))

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    def stop(self) -> None:
        self._conn.close()


def creator_for(path: str) -> Callable[[], Any]:
    """The ``async_creator`` for a database file."""

    async def create() -> Connection:
        return Connection(sqlite3.connect(path, check_same_thread=False))

    return create
