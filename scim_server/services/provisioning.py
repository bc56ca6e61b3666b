"""SCIM use cases: each write is one transaction holding the change and its audit events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

import audit
from scim_server.protocol import resource as wire
from scim_server.protocol.errors import InvalidValue, NotFound, PreconditionFailed
from scim_server.protocol.filter import element_matches
from scim_server.protocol.listing import Cursor, InvalidCursor, ListQuery, list_response
from scim_server.protocol.patch import MemberChanges, apply_patch
from scim_server.protocol.projection import Projection
from scim_server.protocol.schema import ResourceType
from scim_server.protocol.validate import MemberRef, changed_attributes, check_immutable, normalise
from scim_server.storage.engine import Database
from scim_server.storage.resources import (
    GROUPS,
    USERS,
    Kind,
    MemberRow,
    MembershipRepository,
    ResourceRepository,
    Stored,
)
from scim_server.storage.types import utcnow

from ._offload import SLICE, json_size, off_loop, yielding
from .context import Caller
from .targets import group_target, target_for, user_target

__all__ = ["Provisioning", "Result", "Preconditions"]

#: What an update computes from the current resource: its new data, the names of the attributes
#: that changed, and (for groups) how to apply membership changes, returning (added, removed).
_Plan = tuple[dict[str, Any], list[str], Callable[[AsyncConnection], Awaitable[tuple[list[str], list[str]]]] | None]


@dataclass(frozen=True, slots=True)
class Result:
    id: str
    #: The resource as the response returns it; ``None`` when the answer has no body (204).
    resource: dict[str, Any] | None
    version: int
    location: str


@dataclass(frozen=True, slots=True)
class Preconditions:
    """``If-Match`` (RFC 7644 §3.14): None = no condition; an empty set never matches."""

    if_match: set[str] | None = None
    any_version: bool = False

    def check(self, version: int) -> None:
        if self.any_version or self.if_match is None:
            return
        if str(version) not in self.if_match:
            raise PreconditionFailed()


class Provisioning:
    """Users and Groups for one database. Stateless apart from its collaborators; one per app."""

    def __init__(self, db: Database, *, audit_enabled: bool = True) -> None:
        self.db = db
        self.audit_enabled = audit_enabled

    # ---- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _kind(rtype: ResourceType) -> Kind:
        return USERS if rtype.name == "User" else GROUPS

    @staticmethod
    def _location(caller: Caller, rtype: ResourceType, id: str) -> str:
        return f"{caller.base_url}{rtype.endpoint}/{id}"

    async def _record(
        self,
        conn: AsyncConnection,
        caller: Caller,
        events: Sequence[tuple[str, Sequence[audit.Target], Mapping[str, Any]]],
    ) -> None:
        if not self.audit_enabled or not events:
            return
        drafts = [
            audit.EventDraft(
                organization=caller.organization,
                action=action,
                actor=caller.actor,
                targets=tuple(targets),
                context=caller.context,
                metadata=dict(metadata),
            )
            for action, targets, metadata in events
        ]
        await audit.record_many(conn, drafts)

    async def _derived(
        self,
        conn: AsyncConnection,
        caller: Caller,
        rtype: ResourceType,
        rows: Sequence[Stored],
        projection: Projection | None,
    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """A user's ``groups`` / a group's ``members``, loaded only when the response includes them."""
        key = "groups" if rtype.name == "User" else "members"
        if not rows or (projection is not None and not projection.wants(key)):
            return {}
        members = MembershipRepository(conn, caller.org_id)
        ids = [r.id for r in rows]
        if rtype.name == "User":
            by_user = await members.groups_of(ids)
            return {
                uid: {
                    "groups": [
                        {"value": gid, "$ref": f"{caller.base_url}/Groups/{gid}", "display": name, "type": "direct"}
                        for gid, name in groups
                    ]
                }
                for uid, groups in by_user.items()
            }
        by_group = await members.members_of(ids)
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for gid, rows_ in by_group.items():
            out[gid] = {"members": [self._member_item(caller, m.member_id, m.member_type, m.display) for m in rows_]}
        return out

    @staticmethod
    def _member_item(caller: Caller, member_id: str, member_type: str, display: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "value": member_id,
            "$ref": f"{caller.base_url}/{'Users' if member_type == 'User' else 'Groups'}/{member_id}",
            "type": member_type,
        }
        if display:
            item["display"] = display
        return item

    def _render(
        self, caller: Caller, rtype: ResourceType, stored: Stored, derived: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return wire.render(
            resource_type=rtype.name,
            id=stored.id,
            data=stored.data,
            version=stored.version,
            created=stored.created,
            last_modified=stored.last_modified,
            location=self._location(caller, rtype, stored.id),
            derived=derived,
        )

    async def _result(
        self,
        conn: AsyncConnection,
        caller: Caller,
        rtype: ResourceType,
        stored: Stored,
        projection: Projection | None,
        derived: Mapping[str, Any] | None = None,
    ) -> Result:
        """The response for one resource; ``derived`` when the caller already knows it (a resource
        just created has exactly the memberships the request gave it)."""
        if derived is None:
            derived = (await self._derived(conn, caller, rtype, [stored], projection)).get(stored.id)
        body = self._render(caller, rtype, stored, derived)
        if projection is not None:
            body = projection.apply(body)
        return Result(stored.id, body, stored.version, self._location(caller, rtype, stored.id))

    async def _load(self, repo: ResourceRepository, id: str, *, for_update: bool = False) -> Stored:
        stored = await repo.get(id, for_update=for_update)
        if stored is None:
            raise NotFound(f"{repo.kind.name} {id} not found.")
        return stored

    async def _resolve_members(
        self,
        conn: AsyncConnection,
        caller: Caller,
        refs: Sequence[MemberRef],
        group_id: str | None = None,
        known: Mapping[str, str] | None = None,
    ) -> list[tuple[str, str, str | None]]:
        """Check that every member exists in this organisation; returns (id, type, display).

        ``known``: ids known to exist, with their type (the group's current members: deleting a
        resource removes its memberships), so a full push of a large group looks up only the
        members it adds. The passes over the ids run off the loop for a long list.
        """
        if not refs:
            return []
        size = _MEMBER_BYTES * len(refs)
        unknown = await off_loop(_unknown_ids, refs, known or {}, size=size)
        user_repo = ResourceRepository(conn, USERS, caller.org_id)
        group_repo = ResourceRepository(conn, GROUPS, caller.org_id)
        users: set[str] = set()
        async for chunk in yielding(unknown):
            users |= await user_repo.ids_present(chunk)
        groups: set[str] = set()
        async for chunk in yielding(await off_loop(_without, unknown, users, size=size)):
            groups |= await group_repo.ids_present(chunk)
        return await off_loop(_resolved, refs, known or {}, users, groups, group_id, size=size)

    async def _member_targets(
        self, conn: AsyncConnection, caller: Caller, ids: Sequence[str]
    ) -> dict[str, audit.Target]:
        if not ids:
            return {}
        # In slices: one statement per thousand ids, never one with more parameters than
        # PostgreSQL's driver takes (32,767), and a turn of the loop between them.
        users: dict[str, dict[str, Any]] = {}
        async for chunk in yielding(ids):
            users.update(await ResourceRepository(conn, USERS, caller.org_id).names(chunk))
        groups: dict[str, dict[str, Any]] = {}
        async for chunk in yielding([i for i in ids if i not in users]):
            groups.update(await ResourceRepository(conn, GROUPS, caller.org_id).names(chunk))
        out = {i: user_target(d) for i, d in users.items()}
        out.update({i: group_target(d) for i, d in groups.items()})
        return out

    async def _member_events(
        self,
        conn: AsyncConnection,
        caller: Caller,
        group: Mapping[str, Any],
        added: Sequence[str],
        removed: Sequence[str],
    ) -> list[tuple[str, Sequence[audit.Target], Mapping[str, Any]]]:
        if not self.audit_enabled or not (added or removed):
            return []
        names = await self._member_targets(conn, caller, [*added, *removed])
        gt = group_target(group)
        events: list[tuple[str, Sequence[audit.Target], Mapping[str, Any]]] = []
        for action, ids in (("group.member_added", added), ("group.member_removed", removed)):
            for mid in ids:
                member = names.get(mid)
                events.append((action, (gt, member) if member else (gt,), {}))
        return events

    @staticmethod
    def _user_update_events(
        old: Mapping[str, Any], new: Mapping[str, Any], changed: Sequence[str]
    ) -> list[tuple[str, Sequence[audit.Target], Mapping[str, Any]]]:
        target = (user_target(new),)
        events: list[tuple[str, Sequence[audit.Target], Mapping[str, Any]]] = []
        was_active = old.get("active", True) is not False
        is_active = new.get("active", True) is not False
        rest = [c for c in changed if c != "active"]
        if rest:
            events.append(("user.updated", target, {"changed": rest}))
        if was_active and not is_active:
            events.append(("user.deprovisioned", target, {}))
        elif is_active and not was_active:
            events.append(("user.reactivated", target, {}))
        return events

    # ---- use cases -----------------------------------------------------------------------------

    async def create(
        self, caller: Caller, rtype: ResourceType, body: Any, projection: Projection | None = None
    ) -> Result:
        normalised = await off_loop(normalise, rtype, body, size=json_size(body))
        kind = self._kind(rtype)
        now = utcnow()
        async with self.db.write() as conn:
            repo = ResourceRepository(conn, kind, caller.org_id)
            stored = await repo.insert(str(uuid.uuid4()), normalised.data, now)
            events: list[tuple[str, Sequence[audit.Target], Mapping[str, Any]]]
            if rtype.name == "User":
                events = [("user.provisioned", (user_target(stored.data),), {})]
                derived: dict[str, Any] = {}
            else:
                events = [("group.created", (group_target(stored.data),), {})]
                members = await self._resolve_members(conn, caller, normalised.members or (), stored.id)
                added = await _add_members(MembershipRepository(conn, caller.org_id), stored.id, members)
                events += await self._member_events(conn, caller, stored.data, added, ())
                derived = {"members": [self._member_item(caller, m, t, d) for m, t, d in members]}
            await self._record(conn, caller, events)
            return await self._result(conn, caller, rtype, stored, projection, derived)

    async def get(self, caller: Caller, rtype: ResourceType, id: str, projection: Projection | None = None) -> Result:
        async with self.db.read() as conn:
            stored = await self._load(ResourceRepository(conn, self._kind(rtype), caller.org_id), id)
            return await self._result(conn, caller, rtype, stored, projection)

    async def version_of(self, caller: Caller, rtype: ResourceType, id: str) -> int:
        async with self.db.read() as conn:
            return (await self._load(ResourceRepository(conn, self._kind(rtype), caller.org_id), id)).version

    async def list_page(self, caller: Caller, rtype: ResourceType, query: ListQuery) -> dict[str, Any]:
        async with self.db.read() as conn:
            repo = ResourceRepository(conn, self._kind(rtype), caller.org_id)
            offset, after_pk = query.start_index - 1, None
            if query.use_cursor:
                offset, after_pk = self._cursor_position(query)
            rows = (
                await repo.page(
                    query.filter,
                    sort_by=query.sort_by,
                    descending=query.descending,
                    offset=offset,
                    limit=query.count,
                    after_pk=after_pk,
                )
                if query.count > 0
                else []
            )
            if after_pk is None and (0 < len(rows) < query.count or (not rows and offset == 0 and query.count > 0)):
                # A page that is not full ends the result set: it tells the total without a COUNT.
                total = offset + len(rows)
            else:
                total = await repo.count(query.filter)
            derived = await self._derived(conn, caller, rtype, rows, query.projection)
            resources = [query.projection.apply(self._render(caller, rtype, r, derived.get(r.id))) for r in rows]
        next_cursor = None
        if query.use_cursor and rows and len(rows) == query.count:
            more = Cursor(offset=offset + len(rows)) if query.sort_by is not None else Cursor(after=rows[-1].pk)
            next_cursor = more.encode()
        return list_response(resources, total=total, query=query, next_cursor=next_cursor)

    async def search_all(self, caller: Caller, queries: Sequence[tuple[ResourceType, ListQuery]]) -> dict[str, Any]:
        """Root-level search (RFC 7644 §3.4.3): every resource type the filter applies to, one after
        another, paged by index over the concatenation."""
        first = queries[0][1]
        want_from, want = first.start_index - 1, first.count
        resources: list[dict[str, Any]] = []
        total = 0
        async with self.db.read() as conn:
            for rtype, query in queries:
                repo = ResourceRepository(conn, self._kind(rtype), caller.org_id)
                n = await repo.count(query.filter)
                offset = max(want_from - total, 0)
                room = want - len(resources)
                total += n
                if room <= 0 or offset >= n:
                    continue
                rows = await repo.page(
                    query.filter, sort_by=query.sort_by, descending=query.descending, offset=offset, limit=room
                )
                derived = await self._derived(conn, caller, rtype, rows, query.projection)
                resources += [query.projection.apply(self._render(caller, rtype, r, derived.get(r.id))) for r in rows]
        return list_response(resources, total=total, query=first, next_cursor=None)

    @staticmethod
    def _cursor_position(query: ListQuery) -> tuple[int, int | None]:
        """(offset, after_pk) for a cursor request: keyset on the default order, offset under sortBy."""
        cursor = query.cursor
        if cursor is None:
            return 0, None
        if cursor.after is not None:
            if query.sort_by is not None:
                raise InvalidCursor("This cursor belongs to a listing without sortBy.")
            return 0, cursor.after
        return cursor.offset or 0, None

    async def replace(
        self,
        caller: Caller,
        rtype: ResourceType,
        id: str,
        body: Any,
        preconditions: Preconditions = Preconditions(),
        projection: Projection | None = None,
    ) -> Result:
        normalised = await off_loop(normalise, rtype, body, size=json_size(body))

        def plan(current: Stored) -> _Plan:
            check_immutable(rtype, current.data, normalised.data)
            changed = changed_attributes(rtype, current.data, normalised.data)
            if rtype.name != "Group" or normalised.members is None:
                # A group PUT without "members" (Okta's rename) leaves the membership alone.
                return normalised.data, changed, None
            wanted_refs = normalised.members

            async def members(conn: AsyncConnection) -> tuple[list[str], list[str]]:
                memberships = MembershipRepository(conn, caller.org_id)
                return await self._set_members(memberships, caller, id, wanted_refs, redisplay=False)

            return normalised.data, changed, members

        return await self._update(caller, rtype, id, preconditions, plan, projection)

    async def patch(
        self,
        caller: Caller,
        rtype: ResourceType,
        id: str,
        body: Any,
        preconditions: Preconditions = Preconditions(),
        projection: Projection | None = None,
    ) -> Result:
        def plan(current: Stored) -> _Plan:
            outcome = apply_patch(rtype, current.data, body)
            changed = [c for c in outcome.changed if c != "members"]
            changes = outcome.members
            if changes is None:
                return outcome.data, changed, None

            async def members(conn: AsyncConnection) -> tuple[list[str], list[str]]:
                return await self._apply_member_changes(conn, caller, id, changes)

            return outcome.data, changed, members

        # A group's PATCH that names no attributes/excludedAttributes is answered 204, without a
        # body (RFC 7644 §3.5.2), as Okta's and Entra's documentation show: its members are not
        # loaded, so a membership change costs the same in a group of ten or of a hundred thousand.
        bodyless = rtype.name == "Group" and (projection is None or not projection.explicit)
        return await self._update(caller, rtype, id, preconditions, plan, projection, bodyless=bodyless, weight=(body,))

    async def _update(
        self,
        caller: Caller,
        rtype: ResourceType,
        id: str,
        preconditions: Preconditions,
        plan: Callable[[Stored], _Plan],
        projection: Projection | None,
        *,
        bodyless: bool = False,
        weight: Sequence[Any] = (),
    ) -> Result:
        """PUT and PATCH: one transaction that stores what changed and records it.

        ``weight``: what the plan's work grows with besides the stored document (a PATCH body).
        """
        now = utcnow()
        async with self.db.write() as conn:
            repo = ResourceRepository(conn, self._kind(rtype), caller.org_id)
            current = await self._load(repo, id, for_update=True)
            preconditions.check(current.version)
            # A PATCH's work grows with the stored document as well as with the body.
            data, changed, members = await off_loop(plan, current, size=json_size(current.data, *weight))
            events: list[tuple[str, Sequence[audit.Target], Mapping[str, Any]]] = []
            stored = current
            if changed:
                stored = await repo.replace(current, data, now)
                if rtype.name == "User":
                    events += self._user_update_events(current.data, stored.data, changed)
                else:
                    events.append(("group.updated", (group_target(stored.data),), {"changed": changed}))
            if members is not None:
                added, removed = await members(conn)
                if added or removed:
                    if stored is current:
                        stored = await repo.touch(current, now)
                    events += await self._member_events(conn, caller, stored.data, added, removed)
            await self._record(conn, caller, events)
            if bodyless:
                return Result(stored.id, None, stored.version, self._location(caller, rtype, stored.id))
            return await self._result(conn, caller, rtype, stored, projection)

    async def _apply_member_changes(
        self, conn: AsyncConnection, caller: Caller, group_id: str, changes: MemberChanges
    ) -> tuple[list[str], list[str]]:
        memberships = MembershipRepository(conn, caller.org_id)
        if changes.remove_all:
            # `replace` of members (Okta's full push): the same difference with what is stored
            # as a PUT makes, so unchanged members are neither deleted nor written again.
            return await self._set_members(memberships, caller, group_id, changes.add, redisplay=True)
        removed: list[str] = []
        if changes.remove_where is not None:
            # Rare: a member filter other than `value eq`. Evaluate it on this group's member rows.
            rows = await _all_members(memberships, group_id)
            removed += await _remove_members(
                memberships,
                group_id,
                await off_loop(_matching_members, changes.remove_where, rows, size=_MEMBER_BYTES * len(rows)),
            )
        if changes.remove:
            removed += await _remove_members(memberships, group_id, changes.remove)
        added = await _add_members(
            memberships, group_id, await self._resolve_members(conn, caller, changes.add, group_id)
        )
        # A member removed and re-added in one request is still a member: report only net changes.
        removed_ids, added_ids = set(removed), set(added)
        net_removed = [m for m in removed if m not in added_ids]
        net_added = [m for m in added if m not in removed_ids]
        return net_added, net_removed

    async def _set_members(
        self,
        memberships: MembershipRepository,
        caller: Caller,
        group_id: str,
        refs: Sequence[MemberRef],
        *,
        redisplay: bool,
    ) -> tuple[list[str], list[str]]:
        """Make the group's members exactly ``refs``; returns (added, removed), linear in both.

        ``redisplay``: also store the ``display`` given for members already there. A PATCH
        ``replace`` always did (it deleted and re-inserted every row); a PUT never did.
        """
        rows = await _all_members(memberships, group_id)
        size = _MEMBER_BYTES * (len(rows) + len(refs))
        known = await off_loop(lambda: {r.member_id: r.member_type for r in rows}, size=size)
        wanted = await self._resolve_members(memberships.conn, caller, refs, group_id, known)
        leaving, redisplayed, joining = await off_loop(_difference, rows, wanted, redisplay, size=size)
        removed = await _remove_members(memberships, group_id, leaving)
        # A member kept with another display is written again, as when the rows were replaced,
        # but is no membership change.
        await _remove_members(memberships, group_id, [m for m, _, _ in redisplayed])
        await _add_members(memberships, group_id, redisplayed)
        added = await _add_members(memberships, group_id, joining)
        return added, removed

    async def delete(
        self, caller: Caller, rtype: ResourceType, id: str, preconditions: Preconditions = Preconditions()
    ) -> None:
        kind = self._kind(rtype)
        async with self.db.write() as conn:
            repo = ResourceRepository(conn, kind, caller.org_id)
            current = await self._load(repo, id, for_update=True)
            preconditions.check(current.version)
            memberships = MembershipRepository(conn, caller.org_id)
            left = await memberships.remove_member_everywhere(id)
            await repo.delete(id)
            action = "user.deleted" if rtype.name == "User" else "group.deleted"
            events: list[tuple[str, Sequence[audit.Target], Mapping[str, Any]]] = [
                (action, (target_for(rtype.name, current.data),), {})
            ]
            if left and self.audit_enabled:
                groups = await ResourceRepository(conn, GROUPS, caller.org_id).names(left)
                member = target_for(rtype.name, current.data)
                events += [("group.member_removed", (group_target(g), member), {}) for g in groups.values()]
            await self._record(conn, caller, events)


#: What one member costs to handle, in bytes of input, for deciding to work off the loop.
_MEMBER_BYTES = 64

_Member = tuple[str, str, str | None]


def _unknown_ids(refs: Sequence[MemberRef], known: Mapping[str, str]) -> list[str]:
    """The distinct ids ``refs`` names that are not in ``known``, in order."""
    return [i for i in dict.fromkeys(r.value for r in refs) if i not in known]


def _without(ids: Sequence[str], found: set[str]) -> list[str]:
    return [i for i in ids if i not in found]


def _resolved(
    refs: Sequence[MemberRef], known: Mapping[str, str], users: set[str], groups: set[str], group_id: str | None
) -> list[_Member]:
    """(id, type, display) for each member ``refs`` names; refuses missing ones and the group itself."""
    ids = list(dict.fromkeys(r.value for r in refs))
    types = {**known, **dict.fromkeys(groups, "Group"), **dict.fromkeys(users, "User")}
    missing = [i for i in ids if i not in types]
    if missing:
        raise InvalidValue(f"members refer to resources that do not exist: {', '.join(missing[:10])}.")
    if group_id is not None and types.get(group_id) == "Group":
        raise InvalidValue("A group cannot be a member of itself.")
    display = {r.value: r.display for r in refs}
    return [(i, types[i], display.get(i)) for i in ids]


def _difference(
    rows: Sequence[MemberRow], wanted: Sequence[_Member], redisplay: bool
) -> tuple[list[str], list[_Member], list[_Member]]:
    """(ids leaving, members staying with another display, members joining) to go from ``rows`` to ``wanted``."""
    stored = {r.member_id: r.display for r in rows}
    wanted_ids = {m for m, _, _ in wanted}
    leaving = [m for m in stored if m not in wanted_ids]
    redisplayed = [m for m in wanted if m[0] in stored and stored[m[0]] != m[2]] if redisplay else []
    joining = [m for m in wanted if m[0] not in stored]
    return leaving, redisplayed, joining


def _matching_members(flt: Any, rows: Sequence[Any]) -> list[str]:
    return [
        r.member_id
        for r in rows
        if element_matches(flt, {"value": r.member_id, "type": r.member_type, "display": r.display})
    ]


async def _all_members(memberships: MembershipRepository, group_id: str) -> list[MemberRow]:
    """Every member row of a group, read in slices with a turn of the event loop between them."""
    rows: list[MemberRow] = []
    after = ""
    while True:
        page = await memberships.members_page(group_id, after, SLICE)
        rows += page
        if len(page) < SLICE:
            return rows
        after = page[-1].member_id
        await asyncio.sleep(0)


async def _add_members(
    memberships: MembershipRepository, group_id: str, members: Sequence[tuple[str, str, str | None]]
) -> list[str]:
    """``memberships.add`` in slices, letting other requests run between them (see ``yielding``)."""
    added: list[str] = []
    async for chunk in yielding(members):
        added += await memberships.add(group_id, chunk)
    return added


async def _remove_members(memberships: MembershipRepository, group_id: str, member_ids: Iterable[str]) -> list[str]:
    removed: list[str] = []
    async for chunk in yielding(list(member_ids)):
        removed += await memberships.remove(group_id, chunk)
    return removed
