"""SQLite group commit: concurrent units of work share a COMMIT but never each other's failures."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

import audit
from scim_server.storage import Database, create_engine


class Boom(Exception):
    pass


@pytest.fixture
async def sqlite_db(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "group.db"
    db = Database(create_engine(f"sqlite+aiosqlite:///{path}"))
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE items (n INTEGER PRIMARY KEY, note TEXT)"))
        await conn.execute(text("CREATE TABLE deferred_parent (id INTEGER PRIMARY KEY)"))
        await conn.execute(
            text(
                "CREATE TABLE deferred_child (id INTEGER PRIMARY KEY, parent INTEGER"
                " REFERENCES deferred_parent(id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    try:
        yield db, path
    finally:
        await db.dispose()


def _committed(path: Path, sql: str) -> list[tuple[object, ...]]:
    """What another connection (another process, in effect) sees: committed data only."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_a_failing_unit_rolls_back_alone_and_the_others_commit(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    db, path = sqlite_db
    seen_at_commit: dict[int, bool] = {}

    async def unit(n: int) -> str:
        try:
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO items (n, note) VALUES (:n, 'x')"), {"n": n})
                await conn.execute(text("UPDATE items SET note = 'y' WHERE n = :n"), {"n": n})
                if n == 5:
                    raise Boom
                audit.after_commit(
                    conn,
                    lambda: seen_at_commit.__setitem__(n, bool(_committed(path, f"SELECT 1 FROM items WHERE n = {n}"))),
                )
        except Boom:
            return "failed"
        # Leaving the block means committed: another connection sees the row already.
        assert _committed(path, f"SELECT note FROM items WHERE n = {n}") == [("y",)]
        return "ok"

    results = await asyncio.gather(*(unit(n) for n in range(10)))

    assert results == ["ok"] * 5 + ["failed"] + ["ok"] * 4
    assert _committed(path, "SELECT n FROM items ORDER BY n") == [(n,) for n in range(10) if n != 5]
    # After-commit callbacks ran for the units that committed, once their rows were durable.
    assert seen_at_commit == {n: True for n in range(10) if n != 5}


async def test_a_failed_commit_fails_every_unit_that_shared_it(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    db, path = sqlite_db

    async def good(n: int) -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": n})

    async def poisoned() -> None:
        async with db.write() as conn:  # the deferred foreign key fails only at COMMIT
            await conn.execute(text("INSERT INTO deferred_child (id, parent) VALUES (1, 999)"))

    outcomes = await asyncio.gather(good(1), poisoned(), good(2), return_exceptions=True)

    assert isinstance(outcomes[1], Exception)
    assert _committed(path, "SELECT count(*) FROM deferred_child") == [(0,)]
    # Sharing the failed COMMIT, the others failed with it; none was told it committed when it had not.
    for n, outcome in ((1, outcomes[0]), (2, outcomes[2])):
        assert _committed(path, f"SELECT count(*) FROM items WHERE n = {n}") == [
            (0 if isinstance(outcome, Exception) else 1,)
        ]

    # The writer recovers: the next unit commits on its own.
    await good(3)
    assert _committed(path, "SELECT n FROM items") == [(3,)]


async def test_sequential_units_each_commit_before_the_next_starts(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    db, path = sqlite_db
    for n in range(3):
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": n})
        assert _committed(path, "SELECT count(*) FROM items") == [(n + 1,)]


async def test_bulk_statements_keep_their_unit_semantics(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    db, path = sqlite_db
    rows = [{"n": n} for n in range(100)]  # one executemany each

    async def bulk(offset: int, fail: bool) -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO items (n) VALUES (:n)"), [{"n": r["n"] + offset} for r in rows])
            if fail:
                raise Boom

    outcomes = await asyncio.gather(bulk(0, False), bulk(1000, True), bulk(2000, False), return_exceptions=True)

    assert [type(o) for o in outcomes] == [type(None), Boom, type(None)]
    assert _committed(path, "SELECT count(*), min(n), max(n) FROM items") == [(200, 0, 2099)]
    assert _committed(path, "SELECT count(*) FROM items WHERE n BETWEEN 1000 AND 1999") == [(0,)]


async def test_a_transaction_lost_mid_batch_fails_its_units_and_the_next_ones_start_afresh(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    db, path = sqlite_db

    async def good(n: int) -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": n})

    async def loses_the_transaction() -> None:
        async with db.write() as conn:
            # What SQLite does on its own after a full disk or an I/O error: the whole
            # transaction, with the units before this one, is rolled back.
            await conn.exec_driver_sql("ROLLBACK")
            raise Boom

    async def later(n: int) -> None:
        await asyncio.sleep(0)  # reaches the gate after the failure, before the batch's COMMIT
        await good(n)

    outcomes = await asyncio.gather(good(1), loses_the_transaction(), later(2), return_exceptions=True)

    assert isinstance(outcomes[1], Boom)
    # good(1) shared the lost transaction: it must not be told it committed.
    assert isinstance(outcomes[0], Exception) and _committed(path, "SELECT count(*) FROM items WHERE n = 1") == [(0,)]
    # The unit that came after starts a new transaction and commits.
    assert outcomes[2] is None, outcomes[2]
    assert _committed(path, "SELECT n FROM items") == [(2,)]
