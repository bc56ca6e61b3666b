"""Organisations and their SCIM tokens in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from audit import translate_unique
from scim_server.protocol.errors import Conflict

from .tables import Organization, ScimToken, table_of
from .types import utcnow

__all__ = ["OrganizationRepository"]

_orgs = table_of(Organization)
_tokens = table_of(ScimToken)


class OrganizationRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def create(self, slug: str, name: str) -> int:
        with translate_unique(lambda: Conflict(f"An organisation with slug {slug!r} already exists.")):
            result = await self.conn.execute(
                insert(_orgs).values(slug=slug, name=name, created_at=utcnow()).returning(_orgs.c.id)
            )
        return int(result.scalar_one())

    async def by_slug(self, slug: str) -> Any | None:
        return (await self.conn.execute(select(_orgs).where(_orgs.c.slug == slug))).first()

    async def add_scim_token(
        self, *, id: str, org_id: int, label: str, prefix: str, digest: str, expires_at: datetime | None
    ) -> None:
        await self.conn.execute(
            insert(_tokens).values(
                id=id,
                org_id=org_id,
                label=label,
                prefix=prefix,
                secret_hash=digest,
                created_at=utcnow(),
                expires_at=expires_at,
            )
        )
