"""What one SQL statement costs in CPU, by how it is built and sent: SQLAlchemy Core and the driver.

    .venv/bin/python bench/statement_costs.py

Every figure is CPU per statement (``process_time``), one transaction, the product's tables on a
scratch SQLite file, measured through a synchronous engine so that no thread hop is counted —
then the same statement through the async engine the product uses today (SQLAlchemy's asyncio
adapter over aiosqlite), where each statement is several round trips to aiosqlite's thread.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, create_engine, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from _harness import machine_note, say, table
from scim_server.storage.tables import GroupMember, Organization, ScimGroup, ScimUser

users = ScimUser.__table__
members = GroupMember.__table__
NOW = datetime.now(UTC)
N = 3000

INSERT_USER = insert(users).returning(users.c.pk)
SELECT_MEMBERS_OF = select(members.c.member_id, members.c.group_id).where(members.c.member_id == bindparam("member"))
SELECT_USER = select(users.c.pk, users.c.id, users.c.data, users.c.version, users.c.created, users.c.last_modified).where(
    users.c.org_id == bindparam("org"), users.c.id == bindparam("id")
)


def _row(i: int) -> dict[str, Any]:
    name = f"user{i}@costs.example"
    return {
        "id": str(uuid.uuid4()),
        "org_id": 1,
        "user_name": name,
        "user_name_norm": name,
        "external_id": None,
        "active": True,
        "data": {"userName": name, "active": True},
        "version": 1,
        "created": NOW,
        "last_modified": NOW,
    }


CASES: dict[str, Callable[[Connection, int], Any]] = {
    "INSERT user: insert(t).values(row).returning(pk), built per call": lambda c, i: c.execute(
        insert(users).values(_row(i)).returning(users.c.pk)
    ).scalar_one(),
    "INSERT user: module-level insert(t).returning(pk) + parameters": lambda c, i: c.execute(INSERT_USER, _row(i)).scalar_one(),
    "SELECT memberships: .where(col.in_([id])), built per call": lambda c, i: c.execute(
        select(members.c.member_id, members.c.group_id).where(members.c.member_id.in_([str(i)]))
    ).all(),
    "SELECT memberships: .where(col == id), built per call": lambda c, i: c.execute(
        select(members.c.member_id, members.c.group_id).where(members.c.member_id == str(i))
    ).all(),
    "SELECT memberships: module-level statement + bindparam": lambda c, i: c.execute(SELECT_MEMBERS_OF, {"member": str(i)}).all(),
    "SELECT user by id: module-level statement + bindparam": lambda c, i: c.execute(SELECT_USER, {"org": 1, "id": "nope"}).all(),
}


def _engine_kwargs() -> dict[str, Any]:
    return {"json_serializer": lambda v: orjson.dumps(v).decode(), "json_deserializer": orjson.loads}


def sync_costs(path: Path) -> dict[str, float]:
    engine = create_engine(f"sqlite:///{path}", **_engine_kwargs())
    out = {}
    for name, case in CASES.items():
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN")
            for i in range(200):
                case(conn, i)
            t0 = time.process_time()
            for i in range(200, 200 + N):
                case(conn, i)
            out[name] = (time.process_time() - t0) / N * 1e6
            conn.exec_driver_sql("ROLLBACK")
    engine.dispose()
    raw = sqlite3.connect(path)
    t0 = time.process_time()
    for i in range(N):
        raw.execute("SELECT member_id, group_id FROM scim_group_members WHERE member_id = ?", (str(i),)).fetchall()
    out["SELECT memberships: plain sqlite3, no SQLAlchemy"] = (time.process_time() - t0) / N * 1e6
    raw.close()
    return out


async def async_costs(path: Path) -> dict[str, float]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", **_engine_kwargs())
    out = {}
    for name, case in CASES.items():
        async with engine.connect() as conn:
            await conn.exec_driver_sql("BEGIN")
            for i in range(100):
                await conn.run_sync(case, i)
            t0 = time.process_time()
            for i in range(100, 100 + N // 3):
                await conn.run_sync(case, i)
            out[name] = (time.process_time() - t0) / (N // 3) * 1e6
            await conn.exec_driver_sql("ROLLBACK")
    await engine.dispose()
    return out


def main() -> None:
    say(machine_note())
    path = Path(tempfile.mkdtemp(prefix="scimtrail-bench-costs-")) / "costs.db"
    engine = create_engine(f"sqlite:///{path}")
    tables = [Organization.__table__, users, ScimGroup.__table__, members]
    users.metadata.create_all(engine, tables=tables)
    with engine.begin() as conn:
        conn.execute(insert(Organization.__table__).values(slug="costs", name="costs", created_at=NOW))
    engine.dispose()
    sync = sync_costs(path)
    aio = asyncio.run(async_costs(path))
    rows = [[name, f"{sync[name]:.0f} µs", f"{aio[name]:.0f} µs" if name in aio else "—"] for name in sync]
    say("CPU per statement, lower is better")
    say(table(["statement", "sync engine (no hop)", "async engine over aiosqlite (today)"], rows))
    shutil.rmtree(path.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
