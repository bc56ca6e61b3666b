"""The audit query API, mounted by the host at ``/api/v1/audit`` (DESIGN §7), as operations.

Authentication is the host's: it passes an :data:`~audit.access.Authorize` callback. Admins and
auditors read and export; only admins change retention. Every query is scoped to the caller's
organisation, so another organisation's event id is simply not found.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..access import Authorize, Caller
from ..errors import QueryError
from ..events import RequestContext
from ..host import Transactions
from ..http import ApiError, ApiInfo, Call, Operation, Section, api_app, request_context
from ..log_reads import read_event
from ..retention import RetentionPolicy, get_retention, set_retention
from .export import FORMATS, encode, iter_batches, record_export
from .filters import EventFilter, search_page
from .openapi import CURSOR, EXPORT_CONTENT, FILTERS, FORMAT, LIMIT, SCHEMAS

__all__ = ["audit_section", "create_audit_app"]

_TAG = "audit log"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _authenticator(authorize: Authorize) -> Callable[[Request], Awaitable[Caller]]:
    async def authenticate(request: Request) -> Caller:
        caller = await authorize(request)
        if caller is None:
            raise ApiError(401, "unauthorized", "An admin or auditor API key is required.", headers=_CHALLENGE)
        if caller.context == RequestContext():
            # A host that did not say where the request came from: take it from the request itself.
            caller = replace(caller, context=request_context(request))
        return caller

    return authenticate


def _policy(policy: RetentionPolicy) -> Response:
    return JSONResponse({"organization": policy.organization, "days": policy.days, "default": policy.is_default})


def audit_section(
    transactions: Transactions,
    authorize: Authorize,
    *,
    prefix: str = "/audit",
    default_limit: int = 100,
    max_limit: int = 1000,
    export_batch_size: int = 5000,
) -> Section[Caller]:
    """The audit log's operations under ``prefix``; nothing touches the database until a request arrives."""

    def limit_of(call: Call[Caller]) -> int:
        raw = call.query("limit")
        if raw is None:
            return default_limit
        try:
            limit = int(raw)
        except ValueError:
            raise QueryError(f"limit must be a whole number between 1 and {max_limit}") from None
        if not 1 <= limit <= max_limit:
            raise QueryError(f"limit must be between 1 and {max_limit}")
        return limit

    def filter_of(call: Call[Caller]) -> EventFilter:
        # Every parameter is declared by now; the filter reads its own and ignores limit, cursor, format.
        return EventFilter.from_params(call.queries(), now=datetime.now(UTC))

    async def list_events(call: Call[Caller]) -> Response:
        f = filter_of(call)
        limit = limit_of(call)
        async with transactions.read() as conn:
            page = await search_page(conn, call.auth.organization, f, limit=limit, cursor=call.query("cursor"))
        # The sealed bodies are already canonical JSON: splice them rather than re-encode.
        data = ",".join(e.json() for e in page.events)
        body = f'{{"data":[{data}],"next_cursor":{orjson.dumps(page.next_cursor).decode()}}}'
        return Response(body, media_type="application/json")

    async def get_event(call: Call[Caller]) -> Response:
        async with transactions.read() as conn:
            event = await read_event(conn, call.auth.organization, call.path("event_id"))
        if event is None:
            raise ApiError(404, "not_found", "No such audit event in this organisation.")
        return Response(event.json(), media_type="application/json")

    async def export(call: Call[Caller]) -> Response:
        caller = call.auth
        fmt = call.query("format") or "json"
        if fmt not in FORMATS:
            raise QueryError(f"format must be one of {', '.join(FORMATS)}")
        f = filter_of(call)
        await record_export(transactions, caller.organization, fmt, f, actor=caller.actor, context=caller.context)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        filename = f"audit-{caller.organization}-{stamp}.{fmt}"
        chunks = encode(fmt, iter_batches(transactions, caller.organization, f, batch_size=export_batch_size))
        return StreamingResponse(
            chunks,
            media_type=FORMATS[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )

    async def get_policy(call: Call[Caller]) -> Response:
        async with transactions.read() as conn:
            return _policy(await get_retention(conn, call.auth.organization))

    async def put_policy(call: Call[Caller]) -> Response:
        caller = call.auth
        if caller.role != "admin":
            raise ApiError(403, "forbidden", "Only an admin can change the retention policy.")
        if "days" not in call.body:
            raise ApiError(400, "invalid_request", 'The body must be a JSON object like {"days": 365}.')
        policy = await set_retention(
            transactions, caller.organization, call.body["days"], actor=caller.actor, context=caller.context
        )
        return _policy(policy)

    bad_filter = {400: "A filter is malformed."}
    operations: tuple[Operation[Caller], ...] = (
        Operation(
            "GET",
            "/events",
            "listAuditEvents",
            "Search the audit log, newest first.",
            list_events,
            _TAG,
            response="AuditEventPage",
            query=(*FILTERS, LIMIT, CURSOR),
            errors={400: "A filter, the limit or the cursor is malformed."},
        ),
        Operation(
            "GET",
            "/events/{event_id}",
            "getAuditEvent",
            "One event by id.",
            get_event,
            _TAG,
            response="AuditEvent",
            errors={404: "No such event in this organisation."},
        ),
        Operation(
            "GET",
            "/export",
            "exportAuditEvents",
            "Export the matching events, oldest first, streamed (recorded as audit_log.exported).",
            export,
            _TAG,
            content=EXPORT_CONTENT,
            query=(FORMAT, *FILTERS),
            errors=bad_filter,
        ),
        Operation(
            "GET",
            "/retention",
            "getRetentionPolicy",
            "The organisation's retention policy.",
            get_policy,
            _TAG,
            response="RetentionPolicy",
        ),
        Operation(
            "PUT",
            "/retention",
            "setRetentionPolicy",
            "Set the retention window (admins only; audited as retention_policy.updated).",
            put_policy,
            _TAG,
            request="RetentionUpdate",
            response="RetentionPolicy",
            errors={400: "days is missing or outside the allowed window.", 403: "Auditors cannot change retention."},
        ),
    )
    return Section(prefix, operations, _authenticator(authorize), {401: "No valid admin or auditor API key."}, SCHEMAS)


def create_audit_app(transactions: Transactions, authorize: Authorize, **options: int) -> Starlette:
    """The audit query API as an app of its own (``/events``, ``/export``, ``/retention``, ``/openapi.json``)."""
    section = audit_section(transactions, authorize, prefix="", **options)
    return api_app([section], ApiInfo("scimtrail audit log API", "Search, export and retain the audit log."))
