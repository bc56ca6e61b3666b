"""Engine construction: one place that knows how SQLite and PostgreSQL differ at connect time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from audit import LOCK_LOG, LOG_SCHEMA, HostTransaction, attach, detach, log_database, write_pending

from . import sqlite_driver
from .wal import BACKSTOP_PAGES, WalCheckpointer

__all__ = ["Database", "create_engine", "log_database"]

#: A write transaction on SQLite takes the main file's write lock up front (a deferred one that
#: upgrades from read to write can fail at once with SQLITE_BUSY instead of waiting). ``BEGIN
#: IMMEDIATE`` would do that, but it locks every attached database too, the sealed log's among
#: them (see :func:`log_database`), and then the sealer, which writes only that file, would wait
#: on every SCIM commit. A write statement that changes nothing locks only the file it names.
_LOCK_MAIN = "DELETE FROM main.scimtrail_write_lock WHERE 0"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine with our JSON codec and SQLite's pragmas."""
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads, "echo": echo}
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        database = make_url(url).database or ":memory:"
        kwargs["async_creator"] = sqlite_driver.connector(
            database, uri=database.startswith("file:"), attach={LOG_SCHEMA: log_database(database)}
        )
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
        for schema in ("main", LOG_SCHEMA):
            cursor.execute(f"PRAGMA {schema}.journal_mode=WAL")
            cursor.execute(f"PRAGMA {schema}.synchronous=NORMAL")
            # Checkpoints run on a thread of their own (storage.wal); this is only the backstop.
            cursor.execute(f"PRAGMA {schema}.wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # busy_timeout stays 0: the driver retries a busy database without blocking the event loop.
        cursor.close()
        # SQLite's lower() folds ASCII only; filters on caseExact=false attributes fold with this,
        # exactly as Python's str.lower() does (see storage.filter_sql).
        dbapi_connection.create_function("scim_lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction takes the write lock up front: a deferred transaction that upgrades
        # from read to write can fail with SQLITE_BUSY at once instead of waiting for the lock.
        if (lock := conn.get_execution_options().get("write")) is None:
            conn.exec_driver_sql("BEGIN")
        elif _migrated(conn):
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql(LOCK_LOG if lock == "log" else _LOCK_MAIN)
        else:
            # Not migrated to 0005 yet (it made both lock tables): lock every attached file.
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _migrated(conn: Any) -> bool:
    """Whether this connection's database has the lock tables (asked once per connection)."""
    info = conn.connection.info
    if not info.get("scimtrail_lock_tables"):
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM main.sqlite_master WHERE name = 'scimtrail_write_lock'"
        ).scalar()
        info["scimtrail_lock_tables"] = bool(found)
    return bool(info["scimtrail_lock_tables"])


def _checkpointer(engine: AsyncEngine) -> WalCheckpointer | None:
    """A WAL checkpointer for a file-backed SQLite database; in-memory ones have no write-ahead log."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:") or "mode=memory" in database:
        return None
    return WalCheckpointer(database, uri=database.startswith("file:"), attach={LOG_SCHEMA: log_database(database)})


def _run(callbacks: Any) -> None:
    """After-commit callbacks (``audit.HostTransaction.after_commit``): run once the transaction is durable."""
    for callback in callbacks:
        callback()


class _Batch:
    """Units of work sharing one SQLite transaction, committed together (see :class:`Database`)."""

    __slots__ = ("done", "callbacks", "events", "failure")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.callbacks: list[Callable[[], None]] = []
        #: The audit events the units recorded (``audit.HostTransaction.pending``), written before COMMIT.
        self.events: list[Any] = []
        self.failure: BaseException | None = None


_UNIT = "scimtrail_unit"
#: The writer connection's page cache, in KiB (negative cache_size is KiB in SQLite).
WRITER_CACHE_KIB = 32 * 1024


class Database:
    """The engine plus, on SQLite, the process-wide write gate and group commit.

    SQLite allows one writer per file at a time. Queueing writers on an asyncio lock in-process is
    far cheaper than letting them collide on the file lock; another process writing the main file
    (``scimtrail`` commands, a relay renewing its lease) still meets the lock that each write
    transaction takes up front (``_LOCK_MAIN``, see ``_on_begin``), which the driver waits for by
    retrying off the event loop's back (see ``sqlite_driver``). Since writes
    are serialised anyway, they share one connection held open for the process's life, instead of
    a pool checkout, reset and return around every write.

    They also share commits. A commit is the most expensive step of a small write (every page it
    touched goes to the write-ahead log), and concurrent requests touch the same pages: the same table and
    index leaves, the same outbox page. So the units of work that reach the gate in the same turn
    of the event loop run one after another in one transaction, each inside its own savepoint, and
    one COMMIT ends them all. A unit that raises rolls back to its savepoint and leaves the others
    alone; a unit's ``async with`` block exits only once that COMMIT is durable, so nothing is
    answered before its change is committed, and a failed COMMIT fails every unit in it. The audit
    events the units record wait for that COMMIT too (``audit.HostTransaction.pending``): they are built
    and inserted for the whole batch at once, in its transaction, just before it commits.

    PostgreSQL needs none of this: each write is its own transaction on a pooled connection.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_gate: asyncio.Lock | None = asyncio.Lock() if self.dialect == "sqlite" else None
        self._writer: AsyncConnection | None = None
        self._raw: sqlite_driver.Connection | None = None
        self._batch: _Batch | None = None
        self._committers: set[asyncio.Task[None]] = set()
        self._checkpointer = _checkpointer(engine)
        # An in-memory database is one shared connection (StaticPool): the log is written on it,
        # through the write gate, like everything else.
        self._seal_gate: asyncio.Lock | None = (
            asyncio.Lock() if self.dialect == "sqlite" and engine.url.database not in (None, "", ":memory:") else None
        )

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        if self._write_gate is None:
            async with self.engine.connect() as conn:
                transaction = attach(conn, HostTransaction())
                try:
                    async with conn.begin():
                        yield conn
                finally:
                    detach(conn)
            transaction.run_after_commit()
            return
        async with self._write_gate:
            writer, raw = await self._writer_connection()
            batch = self._batch
            if batch is None:
                await writer.begin()
                batch = self._batch = _Batch(asyncio.get_running_loop())
                # Runs after every task already waiting to run this turn: their units join.
                asyncio.get_running_loop().call_soon(self._commit_soon, batch)
            raw.savepoint(_UNIT)
            # The unit's audit events wait for the batch's COMMIT (see write_pending in _commit);
            # its hot statements go straight to sqlite3, inside the unit.
            pending: list[Any] = []
            transaction = attach(writer, HostTransaction(raw.sqlite3_connection, pending=pending))
            try:
                yield writer
            except BaseException as exc:
                detach(writer)
                await self._undo_unit(batch, raw, exc)
                raise
            detach(writer)
            raw.release(_UNIT)
            batch.callbacks.extend(transaction.after_commit)
            batch.events.extend(pending)
        await asyncio.shield(batch.done)

    async def _writer_connection(self) -> tuple[AsyncConnection, sqlite_driver.Connection]:
        writer = self._writer
        if writer is None or writer.closed or writer.invalidated or self._raw is None:
            writer = self._writer = await (await self.engine.connect()).execution_options(write=True)
            raw = self._raw = (await writer.get_raw_connection()).driver_connection
            assert raw is not None
            # Every write goes through this one connection, and its working set (the right-hand
            # leaves of every table and index, and userName's random leaves)
            # outgrows SQLite's default 2 MB page cache within minutes of steady writes; the
            # readers keep the default. Measured: 1.05-1.10x POST throughput, p99 down ~1 ms.
            raw.sqlite3_connection.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        assert self._raw is not None
        return writer, self._raw

    async def _undo_unit(self, batch: _Batch, raw: sqlite_driver.Connection, exc: BaseException) -> None:
        """Roll the failed unit back to its savepoint; if the whole transaction is gone, fail the batch."""
        try:
            if raw.in_transaction:
                raw.rollback_to(_UNIT)
        except Exception:  # the connection is broken: the batch cannot commit
            pass
        if not raw.in_transaction or (self._writer is not None and self._writer.invalidated):
            # SQLite rolled the whole transaction back (disk full, I/O error) or the connection
            # died: the units before this one are lost with it, so their batch must fail. The
            # writer is reset now, so the next unit through the gate starts a transaction afresh.
            batch.failure = batch.failure or exc
            if self._batch is batch:
                self._batch = None
            await self._reset_writer()

    def _commit_soon(self, batch: _Batch) -> None:
        task = asyncio.get_running_loop().create_task(self._commit(batch))
        self._committers.add(task)
        task.add_done_callback(self._committers.discard)

    async def _commit(self, batch: _Batch) -> None:
        assert self._write_gate is not None
        async with self._write_gate:
            if batch.failure is not None:
                # Its transaction is already gone and the writer reset (see _undo_unit); the
                # writer may be carrying the next batch by now, so it is not touched here.
                self._fail(batch, batch.failure)
                return
            if self._batch is batch:
                self._batch = None
            writer = self._writer
            try:
                assert writer is not None and self._raw is not None
                if batch.events:
                    # The whole batch's audit events in one pass (never raises: a failure costs
                    # events, never the changes they record).
                    write_pending(self._raw.sqlite3_connection, batch.events)
                await writer.commit()
            except BaseException as exc:
                await self._reset_writer()
                self._fail(batch, exc)
                return
        if self._checkpointer is not None:
            self._checkpointer.wrote()
        batch.done.set_result(None)
        _run(batch.callbacks)

    @staticmethod
    def _fail(batch: _Batch, exc: BaseException) -> None:
        batch.done.set_exception(exc)
        batch.done.exception()  # retrieved: a batch nobody waits for is not an error to log

    async def _reset_writer(self) -> None:
        writer = self._writer
        if writer is None:
            return
        try:
            if writer.invalidated:
                raise RuntimeError("writer connection invalidated")
            await writer.rollback()
            if self._raw is not None and self._raw.in_transaction:
                # A COMMIT that failed (a deferred constraint) leaves SQLite's transaction open
                # while SQLAlchemy counts it as ended: end it at the source.
                await self._raw.rollback()
        except Exception:
            self._writer = self._raw = None
            with contextlib.suppress(Exception):
                detach(writer)  # back to the pool: readers must not see a writer's state
                await writer.close()

    @asynccontextmanager
    async def seal(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction on the sealed audit log's file alone (``audit.AuditHost.seal``).

        On SQLite it locks only that file (:func:`log_database`), on a connection of its own
        outside the group commit, so sealing never holds the write lock SCIM commits need, and a
        sealer in another process never makes the server wait. It may read any table. PostgreSQL
        (one database) and an in-memory SQLite database use an ordinary :meth:`write`.
        """
        if self._seal_gate is None:
            async with self.write() as conn:
                yield conn
            return
        async with self._seal_gate, self.engine.connect() as conn:
            await conn.execution_options(write="log")
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            transaction = attach(conn, HostTransaction(raw.sqlite3_connection))
            try:
                async with conn.begin():
                    yield conn
            finally:
                detach(conn)  # back to the pool: readers must not see a writer's state
        if self._checkpointer is not None:
            self._checkpointer.wrote(LOG_SCHEMA)
        transaction.run_after_commit()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction: one consistent snapshot for all its statements (a page and its
        total, the outbox and the sealed log). SQLite's transactions are snapshots already;
        PostgreSQL's default, READ COMMITTED, takes a new snapshot per statement, so reads ask
        for REPEATABLE READ (set with BEGIN, no extra round trip)."""
        async with self.engine.connect() as conn:
            if self._write_gate is None:
                conn = await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            async with conn.begin():
                yield conn

    async def dispose(self) -> None:
        if self._committers:
            await asyncio.gather(*self._committers, return_exceptions=True)
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._writer is not None:
            detach(self._writer)
            await self._writer.close()
            self._writer = self._raw = None
        await self.engine.dispose()
