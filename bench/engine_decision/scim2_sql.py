"""Option A prototype: scim2-server 0.8 with our SQL storage behind its ``AsyncScimStorage``.

The adapter is as kind to scim2-server as its interface allows, so the comparison measures the
engine and not a naive storage:

- the same tables, engine and write gate as the product (``scim_server.storage``);
- ``userName``/``externalId``/``displayName``/``id`` equality filters, paging and cursors in SQL
  (anything else raises ``invalidFilter`` rather than scanning);
- ``get`` honours ``response_parameters`` (a GET with ``excludedAttributes=members`` skips the
  member rows);
- ``update`` of a group diffs the members against the member table and writes only the rows
  that changed.

What the interface does not let the adapter avoid: PATCH and PUT hand ``update`` the whole new
resource, so the handler first ``get``s the whole group (every member row, validated into
models), applies the PATCH on the models, and the adapter must read every member id again to
find the difference.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from scim2_models import (
    InvalidFilterException,
    Meta,
    NotFoundException,
    Pagination,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimProvider,
    SearchRequest,
    UnauthorizedException,
    UniquenessException,
)
from scim2_models.path import Comparison, CompareOperator
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.requests import ScimRequest
from scim2_server.service import ScimService
from scim2_server.storage import AsyncScimStorage, SearchPage
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from scim_server.storage.engine import Database
from scim_server.storage.tables import GroupMember, ScimGroup, ScimUser

_users = ScimUser.__table__
_groups = ScimGroup.__table__
_members = GroupMember.__table__


def _version(n: int) -> str:
    return f'W/"{n}"'


def _parse_version(etag: str | None) -> int | None:
    if etag is None:
        return None
    return int(etag.removeprefix("W/").strip('"'))


class SqlScimStorage(AsyncScimStorage):
    """Users and groups of one organisation in the product's tables."""

    supports_cursors = True

    def __init__(self, db: Database, org_id: int, provider: ScimProvider) -> None:
        self.db = db
        self.org_id = org_id
        self.provider = provider

    # -- rows <-> models ---------------------------------------------------------------------

    def _model(self, resource_type: ResourceType) -> type[Resource[Any]]:
        return self.provider.model_for(resource_type)  # type: ignore[no-any-return]

    @staticmethod
    def _meta(kind: str, row: Any) -> dict[str, Any]:
        return {
            "resourceType": kind,
            "created": row.created.isoformat(),
            "lastModified": row.last_modified.isoformat(),
            "version": _version(row.version),
        }

    def _user(self, resource_type: ResourceType, row: Any) -> Resource[Any]:
        doc = {**row.data, "id": row.id, "meta": self._meta("User", row)}
        return self._model(resource_type).model_validate(doc)

    def _group(self, resource_type: ResourceType, row: Any, members: list[Any] | None) -> Resource[Any]:
        doc = {**row.data, "id": row.id, "meta": self._meta("Group", row)}
        if members:
            doc["members"] = [
                {"value": m.member_id, "$ref": f"{m.member_type}s/{m.member_id}", "type": m.member_type, "display": m.display}
                for m in members
            ]
        return self._model(resource_type).model_validate(doc)

    @staticmethod
    def _data(resource: Resource[Any]) -> dict[str, Any]:
        data = resource.model_dump()
        for key in ("id", "meta", "members", "groups"):
            data.pop(key, None)
        return data

    # -- AsyncScimStorage ----------------------------------------------------------------------

    async def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        async with self.db.read() as conn:
            if resource_type.name == "User":
                row = (
                    await conn.execute(select(_users).where(_users.c.org_id == self.org_id, _users.c.id == resource_id))
                ).first()
                if row is None:
                    raise NotFoundException(detail=f"User {resource_id!r} not found")
                return self._user(resource_type, row)
            row = (
                await conn.execute(select(_groups).where(_groups.c.org_id == self.org_id, _groups.c.id == resource_id))
            ).first()
            if row is None:
                raise NotFoundException(detail=f"Group {resource_id!r} not found")
            members = None
            if not _skips_members(response_parameters):
                members = (await conn.execute(select(_members).where(_members.c.group_id == resource_id))).all()
            return self._group(resource_type, row, members)

    async def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        if len(resource_types) != 1 or resource_types[0].name != "User":
            raise InvalidFilterException(detail="this prototype searches users only")
        resource_type = resource_types[0]
        where = [_users.c.org_id == self.org_id]
        if search_request.filter is not None:
            where.append(_where_of(search_request.filter.ast))
        count = search_request.count if search_request.count is not None else 100
        async with self.db.read() as conn:
            if search_request.cursor is not None:
                after = 0 if position is None else int(position["pk"])
                stmt = select(_users).where(*where, _users.c.pk > after).order_by(_users.c.pk).limit(count + 1)
                rows = (await conn.execute(stmt)).all()
                nxt = {"pk": rows[count - 1].pk} if len(rows) > count else None
                rows = rows[:count]
                return SearchPage(total=None, resources=[self._user(resource_type, r) for r in rows], next=nxt)
            total = (await conn.execute(select(func.count()).select_from(_users).where(*where))).scalar_one()
            start = search_request.start_index or 1
            stmt = select(_users).where(*where).order_by(_users.c.pk).offset(start - 1).limit(count)
            rows = (await conn.execute(stmt)).all()
        return SearchPage(total=total, resources=[self._user(resource_type, r) for r in rows])

    async def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        now = datetime.now(UTC)
        rid = str(uuid.uuid4())
        data = self._data(resource)
        try:
            async with self.db.write() as conn:
                if resource_type.name == "User":
                    await conn.execute(
                        insert(_users).values(
                            id=rid,
                            org_id=self.org_id,
                            user_name=data["userName"],
                            user_name_norm=data["userName"].lower(),
                            external_id=data.get("externalId"),
                            active=bool(data.get("active", True)),
                            data=data,
                            version=1,
                            created=now,
                            last_modified=now,
                        )
                    )
                else:
                    await conn.execute(
                        insert(_groups).values(
                            id=rid,
                            org_id=self.org_id,
                            display_name=data["displayName"],
                            display_name_norm=data["displayName"].lower(),
                            external_id=data.get("externalId"),
                            data=data,
                            version=1,
                            created=now,
                            last_modified=now,
                        )
                    )
                    await self._write_members(conn, rid, resource)
        except IntegrityError:
            raise UniquenessException() from None
        created = resource.model_copy(deep=True)
        created.id = rid
        created.meta = Meta(resource_type=resource_type.name, created=now, last_modified=now, version=_version(1))
        return created

    async def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        table = _users if resource_type.name == "User" else _groups
        data = self._data(resource)
        now = datetime.now(UTC)
        values: dict[str, Any] = {"data": data, "version": table.c.version + 1, "last_modified": now}
        if table is _users:
            values.update(user_name=data["userName"], user_name_norm=data["userName"].lower())
        else:
            values.update(display_name=data["displayName"], display_name_norm=data["displayName"].lower())
        where = [table.c.org_id == self.org_id, table.c.id == resource.id]
        expected = _parse_version(expected_version)
        if expected is not None:
            where.append(table.c.version == expected)
        try:
            async with self.db.write() as conn:
                row = (await conn.execute(update(table).where(*where).values(**values).returning(table))).first()
                if row is None:
                    raise PreconditionFailedException
                if table is _groups:
                    await self._sync_members(conn, str(resource.id), resource)
        except IntegrityError:
            raise UniquenessException() from None
        updated = resource.model_copy(deep=True)
        assert updated.meta is not None
        updated.meta.last_modified = now
        updated.meta.version = _version(row.version)
        return updated

    async def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        table = _users if resource_type.name == "User" else _groups
        async with self.db.write() as conn:
            result = await conn.execute(delete(table).where(table.c.org_id == self.org_id, table.c.id == resource_id))
            if result.rowcount == 0:
                raise NotFoundException()

    # -- members -------------------------------------------------------------------------------

    async def _write_members(self, conn: Any, gid: str, resource: Resource[Any]) -> None:
        members = getattr(resource, "members", None) or []
        if members:
            await conn.execute(
                insert(_members),
                [
                    {"group_id": gid, "member_id": m.value, "org_id": self.org_id, "member_type": m.type or "User", "display": m.display}
                    for m in members
                ],
            )

    async def _sync_members(self, conn: Any, gid: str, resource: Resource[Any]) -> None:
        wanted = {m.value: m for m in (getattr(resource, "members", None) or [])}
        existing = set((await conn.execute(select(_members.c.member_id).where(_members.c.group_id == gid))).scalars())
        added = [wanted[v] for v in wanted.keys() - existing]
        removed = existing - wanted.keys()
        if added:
            await conn.execute(
                insert(_members),
                [
                    {"group_id": gid, "member_id": m.value, "org_id": self.org_id, "member_type": m.type or "User", "display": m.display}
                    for m in added
                ],
            )
        if removed:
            await conn.execute(delete(_members).where(_members.c.group_id == gid, _members.c.member_id.in_(removed)))


def _skips_members(parameters: ResponseParameters[Any] | None) -> bool:
    if parameters is None:
        return False
    excluded = {str(p).lower() for p in (parameters.excluded_attributes or [])}
    if "members" in excluded:
        return True
    attributes = {str(p).lower().split(".")[0] for p in (parameters.attributes or [])}
    return bool(attributes) and "members" not in attributes


_COLUMNS = {"username": _users.c.user_name_norm, "externalid": _users.c.external_id, "id": _users.c.id}


def _where_of(node: Any) -> Any:
    if isinstance(node, Comparison) and node.op == CompareOperator.eq and isinstance(node.value, str):
        name = node.attr_path.attr.lower()
        if name in _COLUMNS and node.attr_path.sub_attr is None:
            return _COLUMNS[name] == (node.value.lower() if name == "username" else node.value)
    raise InvalidFilterException(detail="this prototype pushes only equality on indexed columns into SQL")


# -- the application -------------------------------------------------------------------------------


class _BearerApplication(ASGIApplication):
    """scim2-server's ASGI application with one static bearer token (its test server's scheme)."""

    def __init__(self, storage: AsyncScimStorage, provider: ScimProvider, service: ScimService, token: str) -> None:
        super().__init__(storage, provider, service)
        self._digest = hashlib.sha256(token.encode()).hexdigest()

    def check_auth(self, request: ScimRequest) -> None:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or hashlib.sha256(token.encode()).hexdigest() != self._digest:
            raise UnauthorizedException


def default_provider(*, cursors: bool) -> ScimProvider:
    """The provider scim2-server's own test server builds: RFC 7643 schemas, every feature on."""
    config = load_default_service_provider_config()
    if cursors:
        config.pagination = Pagination(
            cursor=True, index=True, default_pagination_method=Pagination.DefaultPaginationMethod.index,
            default_page_size=100, max_page_size=1000, cursor_timeout=3600,
        )
    return ScimProvider.from_discovery(load_default_schemas().values(), load_default_resource_types().values(), config=config)


def create_app(storage_factory: Any, token: str, *, cursors: bool = True) -> ASGIApplication:
    """scim2-server's ASGI application over ``storage_factory(provider)``, mounted at ``/scim``."""
    provider = default_provider(cursors=cursors)
    service = ScimService(provider, secret=os.environ.get("SCIM2_SERVER_SECRET") or os.urandom(32).hex())
    app = _BearerApplication(storage_factory(provider), provider, service, token)
    return app
