"""Shared fixtures: every database-backed test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from scim_server.storage import Database, create_engine, upgrade
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


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database on each backend, with the product's write path."""
    engine = create_engine(database_url)
    await upgrade(engine)
    database = Database(engine)
    try:
        yield database
    finally:
        await database.dispose()


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


# ---- the application under test ---------------------------------------------------------------

from collections.abc import Callable  # noqa: E402

import httpx  # noqa: E402

from scim_server.app import create_app  # noqa: E402
from scim_server.services.organizations import create_organization  # noqa: E402
from scim_server.settings import Settings  # noqa: E402


class Tenant:
    """An organisation with a SCIM token and a client that presents it."""

    def __init__(self, slug: str, token: str, client: httpx.AsyncClient) -> None:
        self.slug = slug
        self.token = token
        self.client = client


@pytest.fixture
async def app_env(database_url: str) -> AsyncIterator[Callable[..., object]]:
    """Start the app's lifespan (migrations) and yield a factory for tenants on it."""
    settings = Settings.from_env({}, database_url=database_url, relay="off")
    app = create_app(settings)
    clients: list[httpx.AsyncClient] = []
    async with app.router.lifespan_context(app):
        db = app.state.db

        async def tenant(slug: str = "acme") -> Tenant:
            issued = await create_organization(db, slug)
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://scim.test/scim/v2",
                headers={"Authorization": f"Bearer {issued.token}", "Content-Type": "application/scim+json"},
            )
            clients.append(client)
            return Tenant(slug, issued.token, client)

        tenant.app = app  # type: ignore[attr-defined]
        try:
            yield tenant
        finally:
            for c in clients:
                await c.aclose()


@pytest.fixture
async def acme(app_env: Callable[..., object]) -> Tenant:
    return await app_env("acme")  # type: ignore[no-any-return,misc]


# ---- tiers, from the directory ----------------------------------------------------------------

_TESTS = Path(__file__).parent
_TIERS = frozenset({"unit", "integration", "e2e"})
#: Fixtures that reach a database or the app on one; a unit test asking for one is in the wrong tier.
_DATABASE_FIXTURES = frozenset({"postgres", "database_url", "db", "app_env", "acme"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test ``unit``, ``integration`` or ``e2e`` after its directory (so ``-m unit`` works)."""
    for item in items:
        parts = item.path.relative_to(_TESTS).parts if item.path.is_relative_to(_TESTS) else ()
        tier = parts[0] if parts and parts[0] in _TIERS else None
        if tier is None:
            continue
        item.add_marker(tier)
        used = _DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if tier == "unit" and used:
            raise pytest.UsageError(
                f"{item.nodeid} is in tests/unit but uses {sorted(used)}: move it to tests/integration"
            )
