"""Helpers for credential tests: bootstrap accounts, age credentials, read the audit events written."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from starlette.types import ASGIApp

from audit.backends import unsealed
from audit.tables import AuditEventRow, OutboxRow
from scim_server.services.credentials import Credentials
from scim_server.storage.engine import Database
from scim_server.storage.tables import AdminKey, ScimToken
from scim_server.storage.types import utcnow

__all__ = ["admin_key", "api_client", "events", "expire_admin_key", "expire_scim_token"]


async def admin_key(db: Database, slug: str, email: str | None = None, role: str = "admin") -> str:
    """A new account in organisation ``slug`` and its API key."""
    credentials = Credentials(db)
    acting = await credentials.operator(slug)
    account = await credentials.create_account(acting, email or f"{role}@{slug}.example", role)
    assert account.key is not None and account.key.key is not None
    return account.key.key


def api_client(app: ASGIApp, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.test", headers=headers)


async def _backdate(db: Database, table: Any, prefix: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(
            update(table).where(table.c.prefix == prefix).values(expires_at=utcnow() - timedelta(minutes=1))
        )
        assert result.rowcount == 1


async def expire_admin_key(db: Database, key: str) -> None:
    await _backdate(db, AdminKey.__table__, key.split("_")[1])


async def expire_scim_token(db: Database, token: str) -> None:
    await _backdate(db, ScimToken.__table__, token.split("_")[1])


async def events(db: Database, organization: str, action: str | None = None) -> list[dict[str, Any]]:
    """Every event recorded for the organisation, sealed or still in the outbox, oldest first."""
    outbox, sealed = OutboxRow.__table__, AuditEventRow.__table__
    async with db.read() as conn:
        waiting = (
            (
                await conn.execute(
                    select(outbox.c.payload)
                    .where(outbox.c.organization == organization, unsealed(conn))
                    .order_by(outbox.c.pk)
                )
            )
            .scalars()
            .all()
        )
        done = (
            (
                await conn.execute(
                    select(sealed.c.body).where(sealed.c.organization == organization).order_by(sealed.c.sequence)
                )
            )
            .scalars()
            .all()
        )
    found = [json.loads(b) for b in done] + [dict(p) for p in waiting]
    return [e for e in found if action is None or e["action"] == action]
