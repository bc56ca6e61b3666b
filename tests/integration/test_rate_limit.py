"""Per-credential token buckets: a burst beyond the limit gets 429 with Retry-After, then recovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from scim_server.app import create_app
from scim_server.auth import RateLimiter
from scim_server.services.organizations import create_organization
from scim_server.settings import Settings
from tests.support.credentials import admin_key, api_client


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [None, None, None]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") is None  # buckets are per credential
    clock.now += 0.5
    assert limiter.acquire("a") is None
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 10
    assert [limiter.acquire("a") for _ in range(4)][-1] is not None  # refills to the burst, no further


def test_zero_rate_disables_limiting() -> None:
    limiter = RateLimiter(0, 0)
    assert not limiter.enabled
    assert all(limiter.acquire("a") is None for _ in range(1000))


@pytest.fixture
async def limited_app(database_url: str) -> AsyncIterator[Any]:
    app = create_app(
        Settings.from_env({}, database_url=database_url, relay="off", rate_limit_per_second=2.0, rate_limit_burst=3)
    )
    async with app.router.lifespan_context(app):
        yield app


async def _scim(app: Any, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="https://scim.test/scim/v2",
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_scim_burst_gets_429_with_retry_after_then_recovers(limited_app: Any) -> None:
    acme = (await create_organization(limited_app.state.db, "acme")).token
    other = (await create_organization(limited_app.state.db, "globex")).token
    async with await _scim(limited_app, acme) as client, await _scim(limited_app, other) as neighbour:
        statuses = [(await client.get("/Users")).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = await client.get("/Users")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "1"
        assert limited.headers["content-type"].startswith("application/scim+json")
        body = limited.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and body["status"] == "429"
        # Another organisation's credential has its own bucket.
        assert (await neighbour.get("/Users")).status_code == 200

        await asyncio.sleep(float(limited.headers["retry-after"]))
        assert (await client.get("/Users")).status_code == 200


async def test_admin_api_is_limited_per_key(limited_app: Any) -> None:
    await create_organization(limited_app.state.db, "acme")
    key = await admin_key(limited_app.state.db, "acme")
    async with api_client(limited_app, key) as api:
        statuses = [(await api.get("/api/v1/tokens")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = await api.get("/api/v1/tokens")
        assert limited.json()["error"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
