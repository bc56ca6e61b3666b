"""Creating organisations and issuing their first SCIM credential."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

import audit
from scim_server.auth import secrets
from scim_server.protocol.errors import InvalidValue
from scim_server.storage.engine import Database
from scim_server.storage.organizations import OrganizationRepository

__all__ = ["IssuedToken", "create_organization", "issue_scim_token", "validate_slug", "OPERATOR"]

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$")

#: The actor for changes made from the command line by whoever operates the server.
OPERATOR = audit.Actor(type="operator", name="cli")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    id: str
    label: str
    #: Shown once; never stored.
    token: str
    expires_at: datetime | None


def validate_slug(slug: str, what: str = "slug") -> str:
    if not _SLUG.match(slug):
        raise InvalidValue(
            f"{what} must be 3–63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit."
        )
    return slug


async def issue_scim_token(
    conn: AsyncConnection,
    org_id: int,
    org_slug: str,
    label: str,
    *,
    actor: audit.Actor,
    context: audit.RequestContext = audit.RequestContext(),
    expires_at: datetime | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> IssuedToken:
    """Create a token inside the caller's transaction, with its ``scim_token.created`` event."""
    validate_slug(label, "label")
    issued = secrets.issue("scim")
    token_id = str(uuid.uuid4())
    await OrganizationRepository(conn).add_scim_token(
        id=token_id, org_id=org_id, label=label, prefix=issued.prefix, digest=issued.digest, expires_at=expires_at
    )
    await audit.record(
        conn,
        audit.EventDraft(
            organization=org_slug,
            action="scim_token.created",
            actor=actor,
            targets=(audit.Target(type="scim_token", name=label),),
            context=context,
            metadata={"prefix": issued.prefix, **(metadata or {})},
        ),
    )
    return IssuedToken(token_id, label, issued.plaintext, expires_at)


async def create_organization(
    db: Database, slug: str, name: str | None = None, token_label: str = "default"
) -> IssuedToken:
    """A new organisation and its first SCIM bearer token, in one transaction."""
    validate_slug(slug)
    async with db.write() as conn:
        org_id = await OrganizationRepository(conn).create(slug, name or slug)
        return await issue_scim_token(conn, org_id, slug, token_label, actor=OPERATOR)
