"""Filters and sortBy translated to SQL, on SQLite and PostgreSQL, against a small known directory.

Every case is also evaluated with ``matches`` on the rendered resources, so a case pins both the
expected answer and the agreement between SQL and the in-memory evaluator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from scim_server.protocol.filter import matches, parse_filter
from scim_server.protocol.resource import render
from scim_server.protocol.schema import ENTERPRISE_USER_SCHEMA, USER_SCHEMA, ResourceType, group_type, user_type
from scim_server.storage.engine import create_engine
from scim_server.storage.filter_sql import filter_clause, sort_expression
from scim_server.storage.migrations import upgrade
from scim_server.storage.tables import GroupMember, Organization, ScimGroup, ScimUser

USERS_T = ScimUser.__table__
GROUPS_T = ScimGroup.__table__
MEMBERS_T = GroupMember.__table__

BJENSEN, ELODIE, JDOE, ZED = "u-bjensen", "u-elodie", "u-jdoe", "u-zed"
TOUR_GUIDES, EQUIPE, EMPTY = "g-tour", "g-equipe", "g-empty"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


USERS: dict[str, tuple[dict[str, Any], datetime]] = {
    BJENSEN: (
        {
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "userName": "BJensen",
            "externalId": "Ext-1",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "title": "Tour Guide",
            "active": True,
            "emails": [
                {"value": "babs@jensen.org", "type": "home"},
                {"value": "bjensen@Example.com", "type": "work", "primary": True},
            ],
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "701984", "department": "Tours"},
        },
        _at("2024-01-01T00:00:00.123456"),
    ),
    ELODIE: (
        {
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "userName": "élodie@exämple.fr",
            "displayName": "Élodie Dupré",
            "title": "",
            "active": False,
            "emails": [{"value": "ÉLODIE@EXÄMPLE.FR", "type": "WORK"}],
            ENTERPRISE_USER_SCHEMA: {"department": "Récits"},
        },
        _at("2024-06-01T12:00:00"),
    ),
    JDOE: (
        {
            "schemas": [USER_SCHEMA],
            "userName": "jdoe_100%",
            "externalId": "ext-1",
            "name": {"familyName": "O'Malley"},
            "title": "Intern*[x]?",
            "active": True,
            "emails": [],
        },
        _at("2025-01-01T00:00:00"),
    ),
    ZED: ({"schemas": [USER_SCHEMA], "userName": "z"}, _at("2025-06-01T00:00:00")),
}
GROUPS: dict[str, dict[str, Any]] = {
    TOUR_GUIDES: {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Tour Guides"},
    EQUIPE: {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Équipe"},
    EMPTY: {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Empty"},
}
# (group, member, type, display)
MEMBERS = [
    (TOUR_GUIDES, BJENSEN, "User", "Barbara Jensen"),
    (TOUR_GUIDES, JDOE, "User", None),
    (EQUIPE, ELODIE, "User", "Élodie Dupré"),
    (EQUIPE, TOUR_GUIDES, "Group", "Tour Guides"),
]


@dataclass
class Directory:
    engine: AsyncEngine
    users: dict[str, dict[str, Any]]  # id -> rendered resource
    groups: dict[str, dict[str, Any]]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def select(self, text: str, rtype: ResourceType) -> set[str]:
        table = USERS_T if rtype is user_type() else GROUPS_T
        clause = filter_clause(parse_filter(text, rtype), table, dialect=self.dialect)
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(table.c.id).where(table.c.org_id == 1, clause))
            return set(rows.scalars())

    def evaluate(self, text: str, rtype: ResourceType) -> set[str]:
        resources = self.users if rtype is user_type() else self.groups
        flt = parse_filter(text, rtype)
        return {id for id, resource in resources.items() if matches(flt, resource)}


def _render(kind: str, id: str, data: Mapping[str, Any], created: datetime, derived: Any) -> dict[str, Any]:
    return render(
        resource_type=kind,
        id=id,
        data=data,
        version=1,
        created=created,
        last_modified=created,
        location=f"https://scim.example/{kind}s/{id}",
        derived=derived,
    )


@pytest.fixture
async def directory(database_url: str) -> AsyncIterator[Directory]:
    engine = create_engine(database_url)
    await upgrade(engine)
    created = _at("2023-01-01T00:00:00")
    async with engine.begin() as conn:
        await conn.execute(sa.insert(Organization.__table__).values(id=1, slug="acme", name="Acme", created_at=created))
        # A second organisation holding look-alikes: filters must never reach across.
        await conn.execute(
            sa.insert(Organization.__table__).values(id=2, slug="other", name="Other", created_at=created)
        )
        for org in (1, 2):
            for id, (data, at) in USERS.items():
                await conn.execute(
                    sa.insert(USERS_T).values(
                        id=f"{id}@{org}" if org == 2 else id,
                        org_id=org,
                        user_name=data["userName"],
                        user_name_norm=data["userName"].lower(),
                        external_id=data.get("externalId"),
                        active=data.get("active", True),
                        data=data,
                        created=at,
                        last_modified=at,
                    )
                )
        for id, data in GROUPS.items():
            name = data["displayName"]
            await conn.execute(
                sa.insert(GROUPS_T).values(
                    id=id,
                    org_id=1,
                    display_name=name,
                    display_name_norm=name.lower(),
                    data=data,
                    created=created,
                    last_modified=created,
                )
            )
        await conn.execute(
            sa.insert(MEMBERS_T),
            [{"group_id": g, "member_id": m, "org_id": 1, "member_type": t, "display": d} for g, m, t, d in MEMBERS],
        )
    users = {}
    for id, (data, at) in USERS.items():
        groups = [{"value": g, "display": GROUPS[g]["displayName"]} for g, m, _, _ in MEMBERS if m == id]
        users[id] = _render("User", id, data, at, {"groups": groups})
    groups_rendered = {}
    for id, data in GROUPS.items():
        members = [{"value": m, "type": t, **({"display": d} if d else {})} for g, m, t, d in MEMBERS if g == id]
        groups_rendered[id] = _render("Group", id, data, created, {"members": members})
    try:
        yield Directory(engine, users, groups_rendered)
    finally:
        await engine.dispose()


async def check(directory: Directory, cases: list[tuple[str, set[str]]], rtype: ResourceType) -> None:
    failures = []
    for text, expected in cases:
        got_sql = await directory.select(text, rtype)
        got_py = directory.evaluate(text, rtype)
        if got_sql != expected or got_py != expected:
            failures.append(f"{text}: expected {sorted(expected)}, SQL {sorted(got_sql)}, matches {sorted(got_py)}")
    assert not failures, f"on {directory.dialect}:\n" + "\n".join(failures)


ALL = {BJENSEN, ELODIE, JDOE, ZED}


async def test_string_operators_and_case_exactness(directory: Directory) -> None:
    await check(
        directory,
        [
            ('userName eq "bjensen"', {BJENSEN}),  # userName is caseExact=false
            ('USERNAME EQ "BJENSEN"', {BJENSEN}),
            ('userName eq "ÉLODIE@EXÄMPLE.FR"', {ELODIE}),  # beyond ASCII
            ('userName sw "JDOE_1"', {JDOE}),
            ('userName ew "FR"', {ELODIE}),
            ('userName co "SEN"', {BJENSEN}),
            ('userName ne "z"', ALL - {ZED}),
            ('externalId eq "Ext-1"', {BJENSEN}),  # externalId is caseExact
            ('externalId eq "EXT-1"', set()),
            ('externalId sw "ext"', {JDOE}),
            (f'id eq "{BJENSEN.upper()}"', set()),
            (f'id eq "{BJENSEN}"', {BJENSEN}),
            ('displayName co "DUPRÉ"', {ELODIE}),
            ('name.familyName co "malley"', {JDOE}),
            ('title eq "tour guide"', {BJENSEN}),
            ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B"', {BJENSEN}),
        ],
        user_type(),
    )


async def test_wildcard_characters_are_literal(directory: Directory) -> None:
    await check(
        directory,
        [
            ('userName co "%"', {JDOE}),
            ('userName co "_"', {JDOE}),
            ('userName ew "0%"', {JDOE}),
            ('userName sw "%"', set()),
            ('userName co "e_1"', {JDOE}),
            ('userName co "e_2"', set()),
            ('title co "*[x]?"', {JDOE}),
            ('title co "[x]"', {JDOE}),
            ('title sw "?"', set()),
            ('title ew "?"', {JDOE}),
            ('title co "\\\\"', set()),
            ('title co ""', {BJENSEN, ELODIE, JDOE}),
        ],
        user_type(),
    )


async def test_ordering_compares_code_points_after_folding(directory: Directory) -> None:
    await check(
        directory,
        [
            ('userName gt "k"', {ELODIE, ZED}),  # "é" (U+00E9) sorts after every ASCII letter
            ('userName lt "c"', {BJENSEN}),
            ('userName ge "z"', {ELODIE, ZED}),
            ('userName le "z"', {BJENSEN, JDOE, ZED}),
            ('title gt "intern"', {BJENSEN, JDOE}),
            ('title lt "a"', {ELODIE}),  # the empty string is a value, less than any other
        ],
        user_type(),
    )


async def test_presence_null_and_negation(directory: Directory) -> None:
    await check(
        directory,
        [
            ("title pr", {BJENSEN, JDOE}),  # "" is not present
            ("not (title pr)", {ELODIE, ZED}),
            ("title eq null", {ELODIE, ZED}),
            ("title ne null", {BJENSEN, JDOE}),
            ('title ne "tour guide"', {ELODIE, JDOE, ZED}),  # absent attribute matches ne
            ('not (title eq "tour guide")', {ELODIE, JDOE, ZED}),
            ("name pr", {BJENSEN, JDOE}),
            ("displayName pr", {ELODIE}),
            ("active eq true", {BJENSEN, JDOE}),
            ("active eq false", {ELODIE}),
            ("active ne true", {ELODIE, ZED}),
            ("active pr", {BJENSEN, ELODIE, JDOE}),
            ("meta pr", ALL),
            ("id pr", ALL),
        ],
        user_type(),
    )


async def test_multi_valued_attributes_match_any_element(directory: Directory) -> None:
    await check(
        directory,
        [
            ("emails pr", {BJENSEN, ELODIE}),  # [] is not present
            ('emails co "jensen.org"', {BJENSEN}),
            ('emails eq "BJENSEN@example.COM"', {BJENSEN}),
            ('emails.value eq "élodie@exämple.fr"', {ELODIE}),
            ('emails.type eq "work"', {BJENSEN, ELODIE}),
            ('emails.type ne "home"', {ELODIE, JDOE, ZED}),
            ("emails.primary eq true", {BJENSEN}),
            ("emails.primary eq false", set()),
            ("emails.display pr", set()),
            ('emails[type eq "work" and value co "jensen.org"]', set()),  # one element must do both
            ('emails[type eq "home" and value co "jensen.org"]', {BJENSEN}),
            ('emails[type eq "work" and (value ew ".fr" or primary eq true)]', {BJENSEN, ELODIE}),
            ("emails[not (primary eq true)]", {BJENSEN, ELODIE}),
            ('emails[type ne "work"]', {BJENSEN}),
            ('not (emails[type eq "work"])', {JDOE, ZED}),
            (f'schemas eq "{ENTERPRISE_USER_SCHEMA}"', {BJENSEN, ELODIE}),
            (f'schemas eq "{USER_SCHEMA.upper()}"', ALL),
        ],
        user_type(),
    )


async def test_singular_complex_and_extension_attributes(directory: Directory) -> None:
    ent = ENTERPRISE_USER_SCHEMA
    await check(
        directory,
        [
            ('name[givenName sw "bar" and familyName eq "JENSEN"]', {BJENSEN}),
            ("name[not (givenName pr)]", {JDOE}),  # no element without a name at all
            (f'{ent}:department eq "récits"', {ELODIE}),
            (f"{ent}:employeeNumber pr", {BJENSEN}),
            (f'{ent}:employeeNumber gt "7"', {BJENSEN}),
            (f"{ent}:manager pr", set()),
            (f'{ent}:department ne "tours"', {ELODIE, JDOE, ZED}),
        ],
        user_type(),
    )


async def test_a_users_groups_come_from_memberships(directory: Directory) -> None:
    await check(
        directory,
        [
            ('groups.display eq "tour guides"', {BJENSEN, JDOE}),
            (f'groups eq "{EQUIPE}"', {ELODIE}),
            (f'groups.value eq "{EQUIPE.upper()}"', set()),
            ('groups[display sw "ÉQ"]', {ELODIE}),
            ("groups pr", {BJENSEN, ELODIE, JDOE}),
            ("not (groups pr)", {ZED}),
            (f'groups[value eq "{TOUR_GUIDES}" and display co "guide"]', {BJENSEN, JDOE}),
            (f'groups[value eq "{TOUR_GUIDES}" and display co "équipe"]', set()),
        ],
        user_type(),
    )


async def test_group_filters_on_members(directory: Directory) -> None:
    await check(
        directory,
        [
            ('displayName eq "TOUR GUIDES"', {TOUR_GUIDES}),
            ('displayName sw "éq"', {EQUIPE}),
            (f'members eq "{BJENSEN}"', {TOUR_GUIDES}),
            (f'members.value eq "{ELODIE}"', {EQUIPE}),
            ('members[type eq "group"]', {EQUIPE}),
            ('members[type eq "user" and display co "élo"]', {EQUIPE}),
            ("members.display pr", {TOUR_GUIDES, EQUIPE}),
            ("not (members pr)", {EMPTY}),
            ('meta.resourceType eq "Group"', {TOUR_GUIDES, EQUIPE, EMPTY}),
        ],
        group_type(),
    )


async def test_timestamps_compare_as_rendered_to_the_millisecond(directory: Directory) -> None:
    # bjensen was created at .123456; GET shows .123Z, and filters agree with what GET shows.
    await check(
        directory,
        [
            ('meta.created eq "2024-01-01T00:00:00.123Z"', {BJENSEN}),
            ('meta.created eq "2024-01-01T00:00:00.123456Z"', set()),
            ('meta.created gt "2024-01-01T00:00:00.123Z"', {ELODIE, JDOE, ZED}),
            ('meta.created ge "2024-01-01T00:00:00.123Z"', ALL),
            ('meta.created ge "2024-01-01T00:00:00.1231Z"', {ELODIE, JDOE, ZED}),
            ('meta.created lt "2024-01-01T00:00:00.1231Z"', {BJENSEN}),
            ('meta.created le "2024-01-01T00:00:00.123Z"', {BJENSEN}),
            ('meta.created lt "2024-01-01T00:00:00.123Z"', set()),
            ('meta.lastModified gt "2024-06-01T14:00:00+02:00"', {JDOE, ZED}),  # an instant, any offset
            ('meta.lastModified ge "2024-06-01T14:00:00+02:00"', {JDOE, ZED, ELODIE}),
        ],
        user_type(),
    )


async def test_precedence_reaches_sql(directory: Directory) -> None:
    await check(
        directory,
        [
            ('title pr and active eq false or userName eq "z"', {ZED}),
            ('title pr and (active eq false or userName eq "z")', set()),
            ("not (title pr) and not (active eq false)", {ZED}),
            ('userName eq "z" or not (emails pr) and title pr', {ZED, JDOE}),
        ],
        user_type(),
    )


async def sorted_ids(directory: Directory, path: str, rtype: ResourceType, *, descending: bool = False) -> list[str]:
    table = USERS_T if rtype is user_type() else GROUPS_T
    key = sort_expression(rtype.resolve(path), table, dialect=directory.dialect)
    order = key.desc() if descending else key.asc()
    async with directory.engine.connect() as conn:
        stmt = sa.select(table.c.id).where(table.c.org_id == 1).order_by(key.is_(None), order, table.c.pk)
        return list((await conn.execute(stmt)).scalars())


async def test_sort_expression(directory: Directory) -> None:
    u = user_type()
    # Case-folded, code-point order; "é" after ASCII.
    assert await sorted_ids(directory, "userName", u) == [BJENSEN, JDOE, ZED, ELODIE]
    assert await sorted_ids(directory, "userName", u, descending=True) == [ELODIE, ZED, JDOE, BJENSEN]
    # Missing values last, whichever way (the caller orders by key IS NULL first).
    assert await sorted_ids(directory, "title", u) == [ELODIE, JDOE, BJENSEN, ZED]
    assert await sorted_ids(directory, "name.familyName", u) == [BJENSEN, JDOE, ELODIE, ZED]
    # Multi-valued: the primary element's value (bjensen's primary is her second email).
    assert await sorted_ids(directory, "emails.value", u) == [BJENSEN, ELODIE, JDOE, ZED]
    assert await sorted_ids(directory, "emails", u) == [BJENSEN, ELODIE, JDOE, ZED]
    assert await sorted_ids(directory, "emails.type", u) == [BJENSEN, ELODIE, JDOE, ZED]
    assert await sorted_ids(directory, "meta.created", u, descending=True) == [ZED, JDOE, ELODIE, BJENSEN]
    assert await sorted_ids(directory, "groups.display", u) == [BJENSEN, JDOE, ELODIE, ZED]
    g = group_type()
    assert await sorted_ids(directory, "displayName", g) == [EMPTY, TOUR_GUIDES, EQUIPE]
    # A group's members have no primary: the smallest member id ("g-tour" < "u-bjensen").
    assert await sorted_ids(directory, "members.value", g) == [EQUIPE, TOUR_GUIDES, EMPTY]
