"""Crash test: SIGKILL the server mid-provisioning; after restart the audit log matches the data.

16 clients provision 500 users; the server is killed with SIGKILL part-way. After a restart,
every user that exists has exactly one ``user.provisioned`` event, no event names a user that
does not exist, sequences are gap-free, and ``verify`` passes.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from audit import read_sealed, verify
from audit.backends import unsealed
from audit.tables import OUTBOX
from scim_server.storage.engine import Database, create_engine
from tests.support.server import LiveServer

pytestmark = pytest.mark.slow

_USERS = 500
_CLIENTS = 16
_KILL_AFTER = 200  # successful creations before the SIGKILL
_ORG = "crash"
_SECRET = "crash-test-secret-key"


def _user(i: int) -> dict[str, object]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"user{i:03d}@crash.example",
        "name": {"givenName": "User", "familyName": f"N{i}"},
        "emails": [{"value": f"user{i:03d}@crash.example", "primary": True}],
        "active": True,
    }


async def _provision_until_killed(base: str, token: str, kill: Callable[[], None]) -> int:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(_USERS):
        queue.put_nowait(i)
    created = 0

    async def client() -> None:
        nonlocal created
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
            while not queue.empty():
                i = queue.get_nowait()
                try:
                    response = await c.post("/Users", json=_user(i))
                except httpx.TransportError:
                    return  # the server is gone
                assert response.status_code == 201, response.text
                created += 1
                if created == _KILL_AFTER:
                    kill()

    await asyncio.gather(*(client() for _ in range(_CLIENTS)))
    return created


async def _existing_users(base: str, token: str) -> set[str]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        names: set[str] = set()
        start = 1
        while True:
            page = (await c.get("/Users", params={"startIndex": start, "count": 200, "attributes": "userName"})).json()
            names |= {r["userName"] for r in page["Resources"]}
            start += len(page["Resources"])
            if not page["Resources"] or start > page["totalResults"]:
                return names


async def _wait_until_sealed(db_path: Path, timeout: float = 15.0) -> None:
    """The restarted server's relay drains what the killed one left in the outbox."""
    db = Database(create_engine(f"sqlite+aiosqlite:///{db_path}"))
    try:
        deadline = time.monotonic() + timeout
        while True:
            async with db.read() as conn:
                pending = (
                    await conn.execute(select(func.count()).select_from(OUTBOX).where(unsealed(conn)))
                ).scalar_one()
            if pending == 0:
                return
            assert time.monotonic() < deadline, f"{pending} events still unsealed"
            await asyncio.sleep(0.1)
    finally:
        await db.dispose()


async def test_sigkill_mid_provisioning_loses_no_event_and_invents_none(tmp_path: Path) -> None:
    db_path = tmp_path / "crash.db"
    server = LiveServer(f"sqlite+aiosqlite:///{db_path}", extra_env={"SCIMTRAIL_SECRET_KEY": _SECRET})
    token = server.create_org(_ORG, token_label="okta-prod")
    with server:
        assert server.process is not None
        created = await _provision_until_killed(server.base_url, token, server.process.kill)
        assert server.process.wait(timeout=10) == -signal.SIGKILL
        assert _KILL_AFTER <= created < _USERS

        server.start()  # on the same port, over what the killed server left
        existing = await _existing_users(server.base_url, token)
        assert len(existing) >= created
        await _wait_until_sealed(db_path)

    db = Database(create_engine(f"sqlite+aiosqlite:///{db_path}"))
    try:
        async with db.read() as conn:
            events = [e.as_dict() for e in await read_sealed(conn, _ORG, limit=100_000)]
        report = await verify(db, _ORG, secret_key=_SECRET)
    finally:
        await db.dispose()

    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    provisioned = Counter(e["targets"][0]["name"] for e in events if e["action"] == "user.provisioned")
    assert set(provisioned) == existing, "an event for a user that does not exist, or a user without one"
    assert set(provisioned.values()) == {1}
    assert all(
        e["actor"] == {"type": "scim_token", "name": "okta-prod"} for e in events if e["action"] == "user.provisioned"
    )
    assert report.ok, report
    assert report.checked == len(events)
