"""Option B prototype: a hand-built protocol layer on scim2-models' schemas.

Just enough of the design to measure its hot paths honestly:

- input is validated by a dict walker driven by the attribute registry that
  ``scim_server.protocol.schema`` builds from scim2-models' schema definitions
  (names normalised to the schema's spelling, types checked, readOnly dropped);
- each resource's canonical JSON is stored as is and served by adding ``id`` and
  ``meta`` and projecting ``attributes``/``excludedAttributes`` on the dict;
- filters (here only ``attr eq "value"`` on indexed columns), paging and cursors are SQL;
- group membership is one row per member: adding one writes one row.

It is a measuring rig, not the product: error handling is minimal and only the routes the
benchmark uses exist.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, event, func, insert, select, update
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audit.events import Actor, EventDraft, RequestContext, Target
from audit.redaction import to_canonical
from audit.tables import OutboxRow
from scim_server.protocol.schema import Attribute, ResourceType, group_type, user_type
from scim_server.storage.engine import Database
from scim_server.storage.tables import GroupMember, ScimGroup, ScimUser

_users = ScimUser.__table__
_groups = ScimGroup.__table__
_members = GroupMember.__table__
_LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
_ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
_MAX_COUNT = 1000
T = TypeVar("T")


class ScimProblem(Exception):
    def __init__(self, status: int, scim_type: str | None, detail: str) -> None:
        super().__init__(detail)
        self.status, self.scim_type, self.detail = status, scim_type, detail


# -- input: a schema-driven dict walker -------------------------------------------------------


def _scalar(attr: Attribute, value: Any, where: str) -> Any:
    kind = attr.type
    if kind in ("string", "reference", "binary"):
        if isinstance(value, str):
            return value
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):  # Entra sends "True"
            return value.lower() == "true"
    elif kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == "decimal":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif kind == "dateTime":
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                return value
    elif kind == "complex":
        if isinstance(value, dict):
            return _walk(attr.sub_attributes, value, f"{where}.")
    raise ScimProblem(400, "invalidValue", f"'{where}' must be a {kind}.")


def _value(attr: Attribute, value: Any, where: str) -> Any:
    if attr.multi_valued:
        items = value if isinstance(value, list) else [value]
        return [_scalar(attr, item, where) for item in items if item is not None]
    return _scalar(attr, value, where)


def _walk(attributes: Mapping[str, Attribute], body: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        attr = attributes.get(key.lower())
        if attr is None:
            raise ScimProblem(400, "invalidSyntax", f"'{prefix}{key}' is not a known attribute.")
        if value is None or attr.mutability == "readOnly":
            continue  # RFC 7644 §3.3: readOnly values sent by the client are ignored
        out[attr.name] = _value(attr, value, prefix + attr.name)
    return out


def validate(rtype: ResourceType, body: Any) -> dict[str, Any]:
    """The canonical document of a creation body, or a ScimProblem."""
    if not isinstance(body, dict):
        raise ScimProblem(400, "invalidSyntax", "The body must be a JSON object.")
    core = rtype.schema
    declared = body.get("schemas")
    if not isinstance(declared, list) or core.id.lower() not in {str(s).lower() for s in declared}:
        raise ScimProblem(400, "invalidValue", f"'schemas' must include {core.id}.")
    core_body: dict[str, Any] = {}
    out: dict[str, Any] = {"schemas": [core.id]}
    for key, value in body.items():
        low = key.lower()
        if low in ("schemas", "id", "meta"):
            continue
        if low.startswith("urn:"):
            ext = rtype.extension(key)
            if ext is None or not isinstance(value, dict):
                raise ScimProblem(400, "invalidValue", f"'{key}' is not an extension of {rtype.name}.")
            out[ext.id] = _walk(ext.attributes, value)
            out["schemas"].append(ext.id)
            continue
        core_body[key] = value
    externals = {k: v for k, v in core_body.items() if k.lower() == "externalid"}
    for k in externals:
        del core_body[k]
    out.update(_walk(core.attributes, core_body))
    if externals:
        ext_id = next(iter(externals.values()))
        if not isinstance(ext_id, str):
            raise ScimProblem(400, "invalidValue", "'externalId' must be a string.")
        out["externalId"] = ext_id
    for attr in core.attributes.values():
        if attr.required and attr.name not in out:
            raise ScimProblem(400, "invalidValue", f"'{attr.name}' is required.")
    return out


# -- output: projection on the stored document -------------------------------------------------


def _excluded_top_level(rtype: ResourceType, excluded: str | None) -> set[str]:
    if not excluded:
        return set()
    names: set[str] = set()
    for part in excluded.split(","):
        ref = rtype.resolve(part.strip())
        if ref.attribute.returned != "always" and ref.sub is None:
            names.add(ref.attribute.name)
    return names


def _meta(kind: str, base: str, rid: str, created: datetime, modified: datetime, version: int) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "created": created.astimezone(UTC).isoformat(),
        "lastModified": modified.astimezone(UTC).isoformat(),
        "location": f"{base}/{kind}s/{rid}",
        "version": f'W/"{version}"',
    }


def _user_doc(row: Any, base: str, excluded: set[str]) -> dict[str, Any]:
    doc = {"id": row.id, **row.data, "meta": _meta("User", base, row.id, row.created, row.last_modified, row.version)}
    for name in excluded:
        doc.pop(name, None)
    return doc


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/scim+json")


def _error(problem: ScimProblem) -> Response:
    body: dict[str, Any] = {"schemas": [_ERROR_SCHEMA], "status": str(problem.status), "detail": problem.detail}
    if problem.scim_type:
        body["scimType"] = problem.scim_type
    return _json(problem.status, body)


# -- the app -------------------------------------------------------------------------------------

_EQ = re.compile(r'^\s*(\w+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_FILTER_COLUMNS = {"username": _users.c.user_name_norm, "externalid": _users.c.external_id}


class AioStore:
    """Units of work through the product's ``Database`` (SQLAlchemy async over aiosqlite).

    Every statement inside a unit is a round trip to aiosqlite's thread (cursor, execute,
    fetch, close: several hops each), as in the product today.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def write(self, unit: Callable[[Connection], T]) -> T:
        async with self.db.write() as conn:
            return await conn.run_sync(unit)

    async def read(self, unit: Callable[[Connection], T]) -> T:
        async with self.db.read() as conn:
            return await conn.run_sync(unit)


class ThreadStore:
    """Units of work on one dedicated thread with a plain (sync) SQLite connection.

    A whole unit — BEGIN, its statements, COMMIT — is one hop between the event loop and the
    thread, whatever it contains. SQLite serialises writers anyway, and with the GIL a second
    thread would not read in parallel, so one thread and one connection lose nothing.
    """

    def __init__(self, path: str) -> None:
        self.engine = create_sync_engine(
            f"sqlite:///{path}",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_serializer=lambda v: orjson.dumps(v).decode(),
            json_deserializer=orjson.loads,
        )

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000"):
                dbapi_connection.execute(f"PRAGMA {pragma}")

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: Connection | None = None

    def _run(self, unit: Callable[[Connection], T], begin: str) -> T:
        if self._conn is None:
            self._conn = self.engine.connect()
        conn = self._conn
        conn.exec_driver_sql(begin)
        try:
            result = unit(conn)
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")
        return result

    async def write(self, unit: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, unit, "BEGIN IMMEDIATE")

    async def read(self, unit: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, unit, "BEGIN")


class BatchingThreadStore(ThreadStore):
    """ThreadStore with group commit: writes that arrive while the thread is busy commit together.

    SQLite takes one writer at a time, so concurrent requests' writes queue anyway; running the
    queued units in one transaction pays BEGIN, COMMIT and the hop once per batch. A unit that
    fails rolls the batch back, and the batch is replayed one unit per transaction, so every
    request still gets its own outcome.
    """

    def __init__(self, path: str, max_batch: int = 64) -> None:
        super().__init__(path)
        self.max_batch = max_batch
        self._queue: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self._lock = threading.Lock()
        self._draining = False

    async def write(self, unit: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._queue.append((unit, future))
            start = not self._draining
            self._draining = True
        if start:
            loop.run_in_executor(self._pool, self._drain, loop)
        return await future

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                if not batch:
                    self._draining = False
                    return
            outcomes = self._run_batch(batch)
            loop.call_soon_threadsafe(_settle, outcomes)

    def _run_batch(self, batch: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]]) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        if self._conn is None:
            self._conn = self.engine.connect()
        conn = self._conn
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            results = [unit(conn) for unit, _ in batch]
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
        else:
            conn.exec_driver_sql("COMMIT")
            return [(future, result, None) for (_, future), result in zip(batch, results, strict=True)]
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        for unit, future in batch:  # replay alone: only the failing unit fails
            try:
                outcomes.append((future, self._run(unit, "BEGIN IMMEDIATE"), None))
            except BaseException as exc:
                outcomes.append((future, None, exc))
        return outcomes


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, exc in outcomes:
        if future.cancelled():
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)


_INSERT_USER = insert(_users)
_INSERT_OUTBOX = insert(OutboxRow.__table__)


def _outbox_row(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """The audit outbox row the product writes with a user's creation, built the same way."""
    event = to_canonical(
        EventDraft(
            organization="bench",
            action="user.provisioned",
            actor=Actor("scim_token", "default"),
            targets=(Target("user", data["userName"]),),
            context=RequestContext(request.client.host if request.client else None, request.headers.get("user-agent"), None),
        )
    )
    return {"event_id": event["id"], "organization": event["organization"], "payload": event}


def create_app(
    db: Database, org_id: int, token: str, store: AioStore | ThreadStore | None = None, *, lean: bool = False
) -> Starlette:
    """The prototype's app. ``lean``: module-level statements, plus the audit outbox row the
    product writes, in the same unit of work — what the product's POST would cost if built so."""
    store = store or AioStore(db)
    token_digest = hashlib.sha256(token.encode()).hexdigest()
    user_rt, group_rt = user_type(), group_type()

    def authorize(request: Request) -> None:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        if hashlib.sha256(presented.encode()).hexdigest() != token_digest:
            raise ScimProblem(401, None, "Missing or invalid credential.")

    def base_url(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}/scim/v2"

    async def create_user(request: Request) -> Response:
        try:
            authorize(request)
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                raise ScimProblem(400, "invalidSyntax", "The body is not valid JSON.") from None
            data = validate(user_rt, body)
            now = datetime.now(UTC)
            rid = str(uuid.uuid4())
            row = {
                "id": rid,
                "org_id": org_id,
                "user_name": data["userName"],
                "user_name_norm": data["userName"].lower(),
                "external_id": data.get("externalId"),
                "active": data.get("active", True),
                "data": data,
                "version": 1,
                "created": now,
                "last_modified": now,
            }
            outbox = _outbox_row(request, data) if lean else None

            def write(conn: Connection) -> None:
                if outbox is None:
                    conn.execute(insert(_users), row)
                    return
                conn.execute(_INSERT_USER, row)
                conn.execute(_INSERT_OUTBOX, outbox)

            try:
                await store.write(write)
            except IntegrityError:
                raise ScimProblem(409, "uniqueness", "userName is already taken.") from None
            meta = _meta("User", base_url(request), rid, now, now, 1)
            doc = {"id": rid, **data, "meta": meta}
            return _json(201, doc, {"Location": meta["location"], "ETag": meta["version"]})
        except ScimProblem as problem:
            return _error(problem)

    async def list_users(request: Request) -> Response:
        try:
            authorize(request)
            q = request.query_params
            where = [_users.c.org_id == org_id]
            if "filter" in q:
                m = _EQ.match(q["filter"])
                if m is None or m.group(1).lower() not in _FILTER_COLUMNS:
                    raise ScimProblem(400, "invalidFilter", "Unsupported filter in this prototype.")
                column = _FILTER_COLUMNS[m.group(1).lower()]
                value = m.group(2).lower() if m.group(1).lower() == "username" else m.group(2)
                where.append(column == value)
            count = min(int(q.get("count", 100)), _MAX_COUNT)
            excluded = _excluded_top_level(user_rt, q.get("excludedAttributes"))
            columns = (_users.c.pk, _users.c.id, _users.c.data, _users.c.created, _users.c.last_modified, _users.c.version)
            body: dict[str, Any] = {"schemas": [_LIST_SCHEMA]}
            cursor = q.get("cursor")
            start = max(int(q.get("startIndex", 1)), 1)

            def page(conn: Connection) -> list[Any]:
                if cursor is not None:
                    after = int(base64.urlsafe_b64decode(cursor + "==")) if cursor else 0
                    stmt = select(*columns).where(*where, _users.c.pk > after).order_by(_users.c.pk).limit(count + 1)
                    rows = conn.execute(stmt).all()
                    if len(rows) > count:
                        rows = rows[:count]
                        body["nextCursor"] = base64.urlsafe_b64encode(str(rows[-1].pk).encode()).decode().rstrip("=")
                    return rows
                body["totalResults"] = conn.execute(select(func.count()).select_from(_users).where(*where)).scalar_one()
                body["startIndex"] = start
                stmt = select(*columns).where(*where).order_by(_users.c.pk).offset(start - 1).limit(count)
                return conn.execute(stmt).all()

            rows = await store.read(page)
            base = base_url(request)
            body["itemsPerPage"] = len(rows)
            body["Resources"] = [_user_doc(r, base, excluded) for r in rows]
            return _json(200, body)
        except ScimProblem as problem:
            return _error(problem)

    async def get_group(request: Request) -> Response:
        try:
            authorize(request)
            gid = request.path_params["id"]
            excluded = _excluded_top_level(group_rt, request.query_params.get("excludedAttributes"))
            with_members = "members" not in excluded

            def load(conn: Connection) -> tuple[Any, list[Any]]:
                row = conn.execute(select(_groups).where(_groups.c.org_id == org_id, _groups.c.id == gid)).first()
                if row is None or not with_members:
                    return row, []
                stmt = select(_members.c.member_id, _members.c.member_type, _members.c.display).where(
                    _members.c.group_id == gid
                )
                return row, conn.execute(stmt).all()

            row, members = await store.read(load)
            if row is None:
                raise ScimProblem(404, None, f"Group {gid} not found.")
            base = base_url(request)
            doc = {"id": row.id, **row.data}
            if with_members:
                doc["members"] = [
                    {"value": m.member_id, "$ref": f"{base}/{m.member_type}s/{m.member_id}", "type": m.member_type}
                    for m in members
                ]
            doc["meta"] = _meta("Group", base, gid, row.created, row.last_modified, row.version)
            return _json(200, doc, {"ETag": doc["meta"]["version"]})
        except ScimProblem as problem:
            return _error(problem)

    async def patch_group(request: Request) -> Response:
        try:
            authorize(request)
            gid = request.path_params["id"]
            body = orjson.loads(await request.body())
            added: list[dict[str, Any]] = []
            for op in body.get("Operations", ()):
                if str(op.get("op", "")).lower() != "add" or str(op.get("path", "")).lower() != "members":
                    raise ScimProblem(400, "invalidPath", "This prototype only adds members.")
                for member in op.get("value", ()):
                    added.append({"group_id": gid, "member_id": member["value"], "org_id": org_id, "member_type": "User"})
            now = datetime.now(UTC)

            def change(conn: Connection) -> Any:
                row = conn.execute(
                    update(_groups)
                    .where(_groups.c.org_id == org_id, _groups.c.id == gid)
                    .values(version=_groups.c.version + 1, last_modified=now)
                    .returning(_groups.c.data, _groups.c.created, _groups.c.version)
                ).first()
                if row is None:
                    raise ScimProblem(404, None, f"Group {gid} not found.")
                if added:
                    # A member must be a user of this organisation: one indexed lookup per request.
                    ids = [m["member_id"] for m in added]
                    found = dict(
                        conn.execute(
                            select(_users.c.id, _users.c.user_name).where(_users.c.org_id == org_id, _users.c.id.in_(ids))
                        ).all()
                    )
                    if len(found) != len(set(ids)):
                        raise ScimProblem(400, "invalidValue", "A member is not a user of this organisation.")
                    for m in added:
                        m["display"] = found[m["member_id"]]
                    conn.execute(sqlite_insert(_members).on_conflict_do_nothing(), added)
                return row

            row = await store.write(change)
            # 200 with the resource, members left out: see docs/decisions/0001 on large groups.
            doc = {"id": gid, **row.data, "meta": _meta("Group", base_url(request), gid, row.created, now, row.version)}
            return _json(200, doc, {"ETag": doc["meta"]["version"]})
        except ScimProblem as problem:
            return _error(problem)

    async def healthz(_: Request) -> Response:
        return Response(b"ok", media_type="text/plain")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/scim/v2/Users", create_user, methods=["POST"]),
            Route("/scim/v2/Users", list_users, methods=["GET"]),
            Route("/scim/v2/Groups/{id}", get_group, methods=["GET"]),
            Route("/scim/v2/Groups/{id}", patch_group, methods=["PATCH"]),
        ]
    )
