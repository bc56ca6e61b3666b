"""Deterministic bulk seeding of the project's tables with SQLAlchemy Core.

Going through the API would take minutes for 100,000 users; inserting rows shaped exactly like
the ones ``POST /Users`` stores takes seconds and gives the same database every time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from scim_server.storage.tables import GroupMember, Organization, ScimGroup, ScimUser

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

_BATCH = 5_000
#: Fixed namespace: the same seed always yields the same ids.
_NS = uuid.UUID("6f1c1d3e-55a4-4c1b-9d0e-1b2a3c4d5e6f")
_CREATED = datetime(2026, 1, 1, tzinfo=UTC)

users_table = ScimUser.__table__  # type: ignore[attr-defined]
groups_table = ScimGroup.__table__  # type: ignore[attr-defined]
members_table = GroupMember.__table__  # type: ignore[attr-defined]
orgs_table = Organization.__table__  # type: ignore[attr-defined]


def user_id(n: int) -> str:
    return str(uuid.uuid5(_NS, f"user-{n}"))


def group_id(name: str) -> str:
    return str(uuid.uuid5(_NS, f"group-{name}"))


def user_name(n: int) -> str:
    return f"user{n:06d}@example.com"


def user_document(n: int) -> dict[str, Any]:
    """A user as an IdP sends it (Okta/Entra-like), in canonical attribute spelling."""
    name = user_name(n)
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "userName": name,
        "externalId": f"ext-{n:06d}",
        "name": {"givenName": f"Given{n}", "familyName": f"Family{n}", "formatted": f"Given{n} Family{n}"},
        "displayName": f"Given{n} Family{n}",
        "active": True,
        "emails": [{"value": name, "type": "work", "primary": True}],
        ENTERPRISE_SCHEMA: {"employeeNumber": str(n), "department": f"dept-{n % 50}"},
    }


def _user_rows(org_id: int, start: int, stop: int) -> Iterator[dict[str, Any]]:
    for n in range(start, stop):
        doc = user_document(n)
        yield {
            "id": user_id(n),
            "org_id": org_id,
            "user_name": doc["userName"],
            "user_name_norm": doc["userName"].lower(),
            "external_id": doc["externalId"],
            "active": True,
            "data": doc,
            "version": 1,
            "created": _CREATED,
            "last_modified": _CREATED,
        }


async def org_id_of(conn: AsyncConnection, slug: str) -> int:
    found = (await conn.execute(select(orgs_table.c.id).where(orgs_table.c.slug == slug))).scalar_one_or_none()
    if found is not None:
        return int(found)
    result = await conn.execute(insert(orgs_table).values(slug=slug, name=slug, created_at=_CREATED))
    inserted = result.inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


async def seed_users(conn: AsyncConnection, org_id: int, count: int, *, start: int = 0) -> None:
    """Insert users ``start .. start+count-1`` in batches (executemany)."""
    batch: list[dict[str, Any]] = []
    for row in _user_rows(org_id, start, start + count):
        batch.append(row)
        if len(batch) == _BATCH:
            await conn.execute(insert(users_table), batch)
            batch = []
    if batch:
        await conn.execute(insert(users_table), batch)


async def seed_group(conn: AsyncConnection, org_id: int, name: str, member_numbers: range) -> str:
    """A group whose members are the seeded users ``member_numbers``; returns its id."""
    gid = group_id(name)
    await conn.execute(
        insert(groups_table).values(
            id=gid,
            org_id=org_id,
            display_name=name,
            display_name_norm=name.lower(),
            external_id=None,
            data={"schemas": [GROUP_SCHEMA], "displayName": name},
            version=1,
            created=_CREATED,
            last_modified=_CREATED,
        )
    )
    batch: list[dict[str, Any]] = []
    for n in member_numbers:
        batch.append(
            {"group_id": gid, "member_id": user_id(n), "org_id": org_id, "member_type": "User", "display": user_name(n)}
        )
        if len(batch) == _BATCH:
            await conn.execute(insert(members_table), batch)
            batch = []
    if batch:
        await conn.execute(insert(members_table), batch)
    return gid
