"""The audit query API, a Starlette app the host mounts at ``/api/v1/audit`` (DESIGN §7).

Authentication is the host's: it passes an :data:`~audit.access.Authorize` callback. Admins and
auditors read and export; only admins change retention. Every query is scoped to the caller's
organisation, so another organisation's event id is simply not found.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..access import Authorize, Caller
from ..events import RequestContext
from ..retention import RetentionError, get_retention, set_retention
from ..log_reads import read_event
from ..host import Transactions
from .export import FORMATS, encode, iter_batches, record_export
from .filters import EventFilter, QueryError, search_page

__all__ = ["create_audit_app"]

_EXTENSIONS = {"csv": "csv", "json": "json", "ndjson": "ndjson"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _params(request: Request) -> dict[str, list[str]]:
    return {key: request.query_params.getlist(key) for key in request.query_params.keys()}


def _request_context(request: Request, caller: Caller) -> RequestContext:
    if caller.context != RequestContext():
        return caller.context
    return RequestContext(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request.headers.get("x-request-id"),
    )


def create_audit_app(
    transactions: Transactions,
    authorize: Authorize,
    *,
    default_limit: int = 100,
    max_limit: int = 1000,
    export_batch_size: int = 5000,
) -> Starlette:
    """Build the sub-application; nothing touches the database until a request arrives."""

    async def caller_of(request: Request, *, admin: bool = False) -> Caller:
        caller = await authorize(request)
        if caller is None:
            raise ApiError(401, "unauthorized", "an admin or auditor API key is required")
        if caller.role not in ("admin", "auditor"):
            raise ApiError(403, "forbidden", "this credential cannot read the audit log")
        if admin and caller.role != "admin":
            raise ApiError(403, "forbidden", "only an admin can change the retention policy")
        return caller

    def limit_of(request: Request) -> int:
        raw = request.query_params.get("limit")
        if raw is None:
            return default_limit
        try:
            limit = int(raw)
        except ValueError:
            raise QueryError(f"limit must be a whole number between 1 and {max_limit}") from None
        if not 1 <= limit <= max_limit:
            raise QueryError(f"limit must be between 1 and {max_limit}")
        return limit

    async def list_events(request: Request) -> Response:
        caller = await caller_of(request)
        f = EventFilter.from_params(_params(request), now=datetime.now(UTC))
        limit = limit_of(request)
        async with transactions.read() as conn:
            page = await search_page(conn, caller.organization, f, limit=limit, cursor=request.query_params.get("cursor"))
        # The sealed bodies are already canonical JSON: splice them rather than re-encode.
        data = ",".join(e.json() for e in page.events)
        body = f'{{"data":[{data}],"next_cursor":{orjson.dumps(page.next_cursor).decode()}}}'
        return Response(body, media_type="application/json")

    async def get_event(request: Request) -> Response:
        caller = await caller_of(request)
        async with transactions.read() as conn:
            event = await read_event(conn, caller.organization, request.path_params["event_id"])
        if event is None:
            raise ApiError(404, "not_found", "no such audit event")
        return Response(event.json(), media_type="application/json")

    async def export(request: Request) -> Response:
        caller = await caller_of(request)
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise QueryError(f"format must be one of {', '.join(FORMATS)}")
        f = EventFilter.from_params(_params(request), now=datetime.now(UTC))
        await record_export(
            transactions, caller.organization, fmt, f, actor=caller.actor, context=_request_context(request, caller)
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        filename = f"audit-{caller.organization}-{stamp}.{_EXTENSIONS[fmt]}"
        chunks = encode(fmt, iter_batches(transactions, caller.organization, f, batch_size=export_batch_size))
        return StreamingResponse(
            chunks,
            media_type=FORMATS[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )

    async def get_policy(request: Request) -> Response:
        caller = await caller_of(request)
        async with transactions.read() as conn:
            policy = await get_retention(conn, caller.organization)
        return JSONResponse({"organization": policy.organization, "days": policy.days, "default": policy.is_default})

    async def put_policy(request: Request) -> Response:
        caller = await caller_of(request, admin=True)
        try:
            document = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise ApiError(400, "invalid_json", "the body must be a JSON object like {\"days\": 365}") from None
        if not isinstance(document, dict) or "days" not in document:
            raise ApiError(400, "invalid_request", "the body must be a JSON object like {\"days\": 365}")
        policy = await set_retention(
            transactions,
            caller.organization,
            document["days"],
            actor=caller.actor,
            context=_request_context(request, caller),
        )
        return JSONResponse({"organization": policy.organization, "days": policy.days, "default": policy.is_default})

    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, exc.code, exc.message, headers)

    async def bad_query(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, QueryError)
        return _error(400, exc.code, exc.message)

    async def bad_retention(_: Request, exc: Exception) -> Response:
        return _error(400, "invalid_retention", str(exc))

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    return Starlette(
        routes=[
            Route("/events", list_events, methods=["GET"]),
            Route("/events/{event_id}", get_event, methods=["GET"]),
            Route("/export", export, methods=["GET"]),
            Route("/retention", get_policy, methods=["GET"]),
            Route("/retention", put_policy, methods=["PUT"]),
        ],
        exception_handlers={
            ApiError: api_error,
            QueryError: bad_query,
            RetentionError: bad_retention,
            HTTPException: http_error,
        },
    )
