"""Shared fixtures: every database-backed test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.support.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | str]:
    """The session's PostgreSQL: SCIMTRAIL_TEST_POSTGRES_URL if set, else a server we start."""
    external = os.environ.get("SCIMTRAIL_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _create_pg_database(postgres: PostgresServer | str) -> tuple[str, str, str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = postgres if isinstance(postgres, str) else postgres.admin_url
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin.rsplit("/", 1)[0]
    return admin, name, base.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"


async def _drop_pg_database(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database per test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scimtrail.db'}"
        return
    postgres = request.getfixturevalue("postgres")
    admin, name, url = await _create_pg_database(postgres)
    try:
        yield url
    finally:
        await asyncio.shield(_drop_pg_database(admin, name))
