"""A minimal host for the audit package: its seam on a plain SQLAlchemy engine, nothing from scim_server.

What a host owes audit (``audit.AuditHost``): write transactions that say what they are
(``audit.attach`` a ``HostTransaction``) and run its after-commit callbacks, read snapshots, and
``seal()``. On SQLite it also attaches the log's own file, serialises its writers in-process, and
seals on a connection of its own that locks the log's file alone. It applies audit's schema with
``audit.schema.create``. No group commit and no pool tuning: the SCIM server's ``Database`` is
the host that is fast; this one is the host that is short.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

import audit
from audit import schema


class ReferenceHost:
    def __init__(self, url: str) -> None:
        self.dialect = make_url(url).get_dialect().name
        options: dict[str, Any] = {
            "json_serializer": lambda v: orjson.dumps(v).decode(),
            "json_deserializer": orjson.loads,
        }
        if self.dialect == "sqlite":
            # audit's SQLite statements run on the sqlite3 connection itself, from the event loop's thread.
            options["connect_args"] = {"check_same_thread": False}
        self.engine = create_async_engine(url, **options)
        self._writers = asyncio.Lock()  # SQLite: one writer at a time, queued here rather than on the file lock
        self._sealers = asyncio.Lock()
        if self.dialect == "sqlite":
            log = schema.log_database(make_url(url).database or "")

            @event.listens_for(self.engine.sync_engine, "connect")
            def _connect(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.isolation_level = None  # BEGIN is ours to emit (below)
                cursor = dbapi_connection.cursor()
                cursor.execute(f"ATTACH DATABASE ? AS {schema.LOG_SCHEMA}", (log,))
                for name in ("main", schema.LOG_SCHEMA):
                    cursor.execute(f"PRAGMA {name}.journal_mode=WAL")
                cursor.close()

            @event.listens_for(self.engine.sync_engine, "begin")
            def _begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN")
                if conn.get_execution_options().get("seal"):
                    conn.exec_driver_sql(schema.LOCK_LOG)  # the log's file only, not the host's

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: schema.create(Operations(MigrationContext.configure(sync))))

    async def _sqlite3(self, conn: AsyncConnection) -> sqlite3.Connection | None:
        if self.dialect != "sqlite":
            return None
        # aiosqlite keeps its sqlite3 connection to itself; audit's SQLite backend needs it.
        raw: sqlite3.Connection = (await conn.get_raw_connection()).driver_connection._conn  # type: ignore[union-attr]
        return raw

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self._writers if self.dialect == "sqlite" else _nothing(), self.engine.connect() as conn:
            raw = await self._sqlite3(conn)
            # On SQLite the drafts wait for COMMIT and go in with one statement (audit.write_pending).
            transaction = audit.attach(conn, audit.HostTransaction(raw, pending=[] if raw else None))
            try:
                async with conn.begin():
                    yield conn
                    if raw is not None and transaction.pending:
                        audit.write_pending(raw, transaction.pending)
            finally:
                audit.detach(conn)
        transaction.run_after_commit()

    @asynccontextmanager
    async def seal(self) -> AsyncIterator[AsyncConnection]:
        if self.dialect != "sqlite":
            async with self.write() as conn:  # one database: sealing is an ordinary write
                yield conn
            return
        async with self._sealers, self.engine.connect() as conn:
            await conn.execution_options(seal=True)
            transaction = audit.attach(conn, audit.HostTransaction(await self._sqlite3(conn)))
            try:
                async with conn.begin():
                    yield conn
            finally:
                audit.detach(conn)
        transaction.run_after_commit()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            if self.dialect != "sqlite":  # one snapshot for every statement, as SQLite's are
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield
