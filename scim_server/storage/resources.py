"""Users, groups and memberships in SQL: one statement per step, no ORM objects on the hot path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from audit import translate_unique
from scim_server.protocol.errors import InvalidValue, PreconditionFailed, Uniqueness
from scim_server.protocol.filter import Filter
from scim_server.protocol.schema import AttrRef

from .filter_sql import filter_clause, sort_expression
from .tables import GroupMember, ScimGroup, ScimUser, table_of

__all__ = ["Kind", "USERS", "GROUPS", "Stored", "MemberRow", "ResourceRepository", "MembershipRepository"]

_members = table_of(GroupMember)


@dataclass(frozen=True, slots=True)
class Kind:
    """How one resource type maps onto its table."""

    name: str  # "User" | "Group"
    table: Table
    #: The column that carries the uniqueness rule, and how its value is derived from ``data``.
    name_key: str
    unique_detail: str

    def columns(self, data: Mapping[str, Any]) -> dict[str, Any]:
        value = _fits(self.name_key, data[self.name_key])
        cols: dict[str, Any] = {"external_id": _fits("externalId", data.get("externalId"))}
        if self.name == "User":
            cols.update(user_name=value, user_name_norm=value.lower(), active=data.get("active", True) is not False)
        else:
            cols.update(display_name=value, display_name_norm=value.lower())
        return cols


#: Longest value of an attribute kept in an indexed column (userName, displayName, externalId,
#: a member's display); the JSON document itself has no such limit.
MAX_INDEXED_LENGTH = 512


def _fits(attribute: str, value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_INDEXED_LENGTH:
        raise InvalidValue(f"'{attribute}' is longer than {MAX_INDEXED_LENGTH} characters.")
    return value


USERS = Kind("User", table_of(ScimUser), "userName", "userName is already in use in this organisation.")
GROUPS = Kind("Group", table_of(ScimGroup), "displayName", "A group with this displayName already exists.")


@dataclass(frozen=True, slots=True)
class Stored:
    pk: int
    id: str
    data: dict[str, Any]
    version: int
    created: datetime
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class MemberRow:
    group_id: str
    member_id: str
    member_type: str
    display: str | None


class _Statements:
    """A table's hot statements, built once: building and cache-keying a statement per call
    cost more CPU than SQLite spends running it."""

    def __init__(self, t: Table) -> None:
        cols = (t.c.pk, t.c.id, t.c.data, t.c.version, t.c.created, t.c.last_modified)
        self.columns = cols
        self.insert = insert(t).returning(t.c.pk)
        self.get = select(*cols).where(t.c.org_id == bindparam("b_org"), t.c.id == bindparam("b_id"))
        self.get_for_update = self.get.with_for_update()
        self.replace = update(t).where(t.c.pk == bindparam("b_pk"), t.c.version == bindparam("b_version"))
        self.touch = (
            update(t)
            .where(t.c.pk == bindparam("b_pk"))
            .values(version=t.c.version + 1, last_modified=bindparam("b_now"))
        )
        self.delete = delete(t).where(t.c.org_id == bindparam("b_org"), t.c.id == bindparam("b_id")).returning(*cols)


_STATEMENTS = {kind.name: _Statements(kind.table) for kind in (USERS, GROUPS)}


def _stored(row: Any) -> Stored:
    return Stored(row.pk, row.id, row.data, row.version, row.created, row.last_modified)


class ResourceRepository:
    """Rows of one resource type, always scoped to one organisation."""

    def __init__(self, conn: AsyncConnection, kind: Kind, org_id: int) -> None:
        self.conn = conn
        self.kind = kind
        self.org_id = org_id
        self._t = kind.table
        self._sql = _STATEMENTS[kind.name]
        self._cols = self._sql.columns

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def _duplicate(self) -> Uniqueness:
        return Uniqueness(self.kind.unique_detail)

    async def insert(self, id: str, data: dict[str, Any], now: datetime) -> Stored:
        values = {"id": id, "org_id": self.org_id, "data": data, "version": 1, "created": now, "last_modified": now}
        values.update(self.kind.columns(data))
        with translate_unique(self._duplicate):
            result = await self.conn.execute(self._sql.insert, values)
        return Stored(result.scalar_one(), id, data, 1, now, now)

    async def get(self, id: str, *, for_update: bool = False) -> Stored | None:
        """One resource; ``for_update`` locks its row until commit (PostgreSQL; SQLite's writer
        lock already serialises writes)."""
        stmt = self._sql.get_for_update if for_update else self._sql.get
        row = (await self.conn.execute(stmt, {"b_org": self.org_id, "b_id": id})).first()
        return _stored(row) if row is not None else None

    async def replace(self, current: Stored, data: dict[str, Any], now: datetime) -> Stored:
        """Store a new version. Compares the version read earlier in this transaction, so a
        concurrent writer on PostgreSQL cannot be overwritten silently."""
        values = {"data": data, "version": current.version + 1, "last_modified": now, **self.kind.columns(data)}
        values.update(b_pk=current.pk, b_version=current.version)
        with translate_unique(self._duplicate):
            result = await self.conn.execute(self._sql.replace, values)
        if result.rowcount != 1:
            raise PreconditionFailed("The resource was changed by another request; retry with its new version.")
        return Stored(current.pk, current.id, data, current.version + 1, current.created, now)

    async def touch(self, current: Stored, now: datetime) -> Stored:
        """A new version without a data change (a group whose members changed)."""
        await self.conn.execute(self._sql.touch, {"b_pk": current.pk, "b_now": now})
        return Stored(current.pk, current.id, current.data, current.version + 1, current.created, now)

    async def delete(self, id: str) -> Stored | None:
        row = (await self.conn.execute(self._sql.delete, {"b_org": self.org_id, "b_id": id})).first()
        return _stored(row) if row is not None else None

    def _where(self, flt: Filter | None) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [self._t.c.org_id == self.org_id]
        if flt is not None:
            clauses.append(filter_clause(flt, self._t, dialect=self.dialect))
        return clauses

    async def count(self, flt: Filter | None) -> int:
        stmt = select(func.count()).select_from(self._t).where(*self._where(flt))
        return int((await self.conn.execute(stmt)).scalar_one())

    async def page(
        self,
        flt: Filter | None,
        *,
        sort_by: AttrRef | None = None,
        descending: bool = False,
        offset: int = 0,
        limit: int,
        after_pk: int | None = None,
    ) -> list[Stored]:
        order: list[Any] = [self._t.c.pk]
        if sort_by is not None:
            key = sort_expression(sort_by, self._t, dialect=self.dialect)
            # RFC 7644 §3.4.2.3: resources without a value for the sort attribute sort last, either way.
            order = [key.is_(None), key.desc() if descending else key.asc(), self._t.c.pk]
        keys = select(self._t.c.pk).where(*self._where(flt))
        if after_pk is not None:
            keys = keys.where(self._t.c.pk > after_pk)
        keys = keys.order_by(*order).limit(limit)
        if offset:
            keys = keys.offset(offset)
        if not offset and sort_by is None:
            stmt = keys.with_only_columns(*self._cols)
        else:
            # Skip the offset over the narrow (org_id, pk) index, then read only the page's rows.
            wanted = keys.subquery()
            stmt = select(*self._cols).join(wanted, wanted.c.pk == self._t.c.pk).order_by(*order)
        return [_stored(r) for r in (await self.conn.execute(stmt)).all()]

    async def ids_present(self, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        if not wanted:
            return set()
        stmt = select(self._t.c.id).where(self._by_id(wanted))
        return set((await self.conn.execute(stmt)).scalars())

    async def names(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``data`` of several resources by id (for audit target names and member display)."""
        wanted = list(ids)
        if not wanted:
            return {}
        stmt = select(self._t.c.id, self._t.c.data).where(self._by_id(wanted))
        return {r.id: r.data for r in (await self.conn.execute(stmt)).all()}

    def _by_id(self, wanted: list[str]) -> ColumnElement[bool]:
        """This organisation's rows among ``wanted`` ids, found through the unique index on ``id``.

        ``org_id + 0`` keeps the planner off the (org_id, pk) index: with it, SQLite scanned every
        row of the organisation for each lookup, so checking a 19,000-member push against 50,000
        users took seconds (issue #19).
        """
        return and_(self._t.c.id.in_(wanted), (self._t.c.org_id + 0) == self.org_id)


def _membership_statements() -> dict[str, Any]:
    m, groups = _members, table_of(ScimGroup)
    ids: Any = bindparam("b_ids", expanding=True)
    groups_of = (
        select(m.c.member_id, groups.c.id, groups.c.display_name)
        .join(groups, groups.c.id == m.c.group_id)
        .where(m.c.org_id == bindparam("b_org"))
        .order_by(groups.c.display_name_norm)
    )
    members_of = select(m.c.group_id, m.c.member_id, m.c.member_type, m.c.display)
    return {
        "groups_of_one": groups_of.where(m.c.member_id == bindparam("b_id")),
        "groups_of_many": groups_of.where(m.c.member_id.in_(ids)),
        "members_of_one": members_of.where(m.c.group_id == bindparam("b_id")),
        "members_page": members_of.where(m.c.group_id == bindparam("b_id"), m.c.member_id > bindparam("b_after"))
        .order_by(m.c.member_id)
        .limit(bindparam("b_limit")),
        "members_of_many": members_of.where(m.c.group_id.in_(ids)).order_by(m.c.group_id),
        "remove_all": delete(m).where(m.c.group_id == bindparam("b_group")).returning(m.c.member_id),
        "remove_some": delete(m)
        .where(m.c.group_id == bindparam("b_group"), m.c.member_id.in_(ids))
        .returning(m.c.member_id),
        "remove_everywhere": delete(m)
        .where(m.c.org_id == bindparam("b_org"), m.c.member_id == bindparam("b_id"))
        .returning(m.c.group_id),
        "member_ids": select(m.c.member_id).where(m.c.group_id == bindparam("b_group")),
        "add": {
            "postgresql": postgresql.insert(m).on_conflict_do_nothing().returning(m.c.member_id),
            "sqlite": sqlite.insert(m).on_conflict_do_nothing().returning(m.c.member_id),
        },
    }


_MEMBERSHIP = _membership_statements()


class MembershipRepository:
    """Group membership rows: one row per (group, member), whatever the group's size."""

    def __init__(self, conn: AsyncConnection, org_id: int) -> None:
        self.conn = conn
        self.org_id = org_id

    async def add(self, group_id: str, members: Sequence[tuple[str, str, str | None]]) -> list[str]:
        """Insert (member_id, member_type, display) rows; returns the ids that were not members yet."""
        if not members:
            return []
        rows = [
            {
                "group_id": group_id,
                "member_id": m,
                "org_id": self.org_id,
                "member_type": t,
                "display": _fits("members.display", d),
            }
            for m, t, d in members
        ]
        if len(rows) == 1:
            stmt = _MEMBERSHIP["add"][self.conn.dialect.name]
            return list((await self.conn.execute(stmt, rows[0])).scalars())
        insert_ = postgresql.insert if self.conn.dialect.name == "postgresql" else sqlite.insert
        added: list[str] = []
        # Multi-row VALUES with RETURNING (the ids really added decide the audit events), in chunks
        # that stay under SQLite's limit on bound variables.
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            stmt = insert_(_members).values(chunk).on_conflict_do_nothing().returning(_members.c.member_id)
            added += (await self.conn.execute(stmt)).scalars().all()
        return added

    async def remove(self, group_id: str, member_ids: Iterable[str] | None) -> list[str]:
        """Delete the named members (all of them when ``member_ids`` is None); returns the ids removed."""
        if member_ids is None:
            result = await self.conn.execute(_MEMBERSHIP["remove_all"], {"b_group": group_id})
        else:
            ids = list(member_ids)
            if not ids:
                return []
            result = await self.conn.execute(_MEMBERSHIP["remove_some"], {"b_group": group_id, "b_ids": ids})
        return list(result.scalars())

    async def remove_member_everywhere(self, member_id: str) -> list[str]:
        """A deleted user or group leaves every group it was in; returns those groups' ids."""
        result = await self.conn.execute(_MEMBERSHIP["remove_everywhere"], {"b_org": self.org_id, "b_id": member_id})
        return list(result.scalars())

    async def members_of(self, group_ids: Sequence[str]) -> dict[str, list[MemberRow]]:
        out: dict[str, list[MemberRow]] = {g: [] for g in group_ids}
        if not group_ids:
            return out
        if len(group_ids) == 1:
            result = await self.conn.execute(_MEMBERSHIP["members_of_one"], {"b_id": group_ids[0]})
        else:
            result = await self.conn.execute(_MEMBERSHIP["members_of_many"], {"b_ids": list(group_ids)})
        for r in result.all():
            out[r.group_id].append(MemberRow(r.group_id, r.member_id, r.member_type, r.display))
        return out

    async def members_page(self, group_id: str, after: str, limit: int) -> list[MemberRow]:
        """Up to ``limit`` of one group's member rows with ids after ``after``, in id order (the
        primary key's): a large group read in slices, so other requests run between them."""
        params = {"b_id": group_id, "b_after": after, "b_limit": limit}
        result = await self.conn.execute(_MEMBERSHIP["members_page"], params)
        return [MemberRow(r.group_id, r.member_id, r.member_type, r.display) for r in result.all()]

    async def groups_of(self, member_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """For each member id, the (group id, group displayName) pairs it belongs to directly."""
        out: dict[str, list[tuple[str, str]]] = {m: [] for m in member_ids}
        if not member_ids:
            return out
        if len(member_ids) == 1:
            params: dict[str, Any] = {"b_org": self.org_id, "b_id": member_ids[0]}
            result = await self.conn.execute(_MEMBERSHIP["groups_of_one"], params)
        else:
            params = {"b_org": self.org_id, "b_ids": list(member_ids)}
            result = await self.conn.execute(_MEMBERSHIP["groups_of_many"], params)
        for r in result.all():
            out[r.member_id].append((r.id, r.display_name))
        return out

    async def member_ids(self, group_id: str) -> set[str]:
        return set((await self.conn.execute(_MEMBERSHIP["member_ids"], {"b_group": group_id})).scalars())
