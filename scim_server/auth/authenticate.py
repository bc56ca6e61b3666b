"""Turning a presented credential into a Principal, or refusing it with one indistinguishable answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from scim_server.storage.tables import Organization, ScimToken
from scim_server.storage.types import utcnow

from . import secrets
from .principal import Principal

__all__ = ["AuthenticationFailed", "authenticate_bearer"]

_tokens = ScimToken.__table__
_orgs = Organization.__table__


class AuthenticationFailed(Exception):
    """Unknown, malformed, expired or revoked: callers answer all of these the same way."""

    def __init__(self, reason: str, prefix: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.prefix = prefix


def _bearer(header: str | None) -> str:
    if not header:
        raise AuthenticationFailed("missing")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationFailed("malformed")
    return value.strip()


async def authenticate_bearer(conn: AsyncConnection, header: str | None, *, now: datetime | None = None) -> Principal:
    """Resolve ``Authorization: Bearer scim_…`` to the token's organisation."""
    presented = _bearer(header)
    prefix = secrets.split(presented, "scim")
    if prefix is None:
        raise AuthenticationFailed("malformed")
    row = (
        await conn.execute(
            select(_tokens.c.id, _tokens.c.label, _tokens.c.secret_hash, _tokens.c.expires_at, _tokens.c.revoked_at,
                   _orgs.c.id.label("org_id"), _orgs.c.slug)
            .join(_orgs, _orgs.c.id == _tokens.c.org_id)
            .where(_tokens.c.prefix == prefix)
        )
    ).first()
    # Compare even when no row was found so that timing does not reveal which prefixes exist.
    stored = row.secret_hash if row is not None else "0" * 64
    if not secrets.matches(presented, stored) or row is None:
        raise AuthenticationFailed("unknown", prefix)
    moment = now or utcnow()
    if row.revoked_at is not None:
        raise AuthenticationFailed("revoked", prefix)
    if row.expires_at is not None and row.expires_at <= moment:
        raise AuthenticationFailed("expired", prefix)
    return Principal(org_id=row.org_id, org_slug=row.slug, kind="scim_token", name=row.label, credential_id=row.id)
