"""``/api/v1/streams``: the admin API for log streams, as a Starlette app the host mounts.

Admins only: no credential → 401, an auditor → 403. Errors are ``{"error", "message"}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from audit.access import Authorize, Caller
from audit.events import RequestContext
from audit.relay.sinks import Delivered, DestinationPolicy, Rejected, Retry
from audit.host import Transactions

from .crypto import SecretBox
from .service import StreamError, StreamService, render

__all__ = ["create_streams_app", "streams_openapi_paths", "streams_routes"]

_log = structlog.get_logger("audit.streams")
_MAX_BODY = 64 * 1024

Endpoint = Callable[[Request, Caller, StreamService], Awaitable[Response]]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise StreamError(413, "too_large", "request body too large")
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise StreamError(400, "invalid_json", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise StreamError(400, "invalid_request", "request body must be a JSON object")
    return body


def _with_request_context(caller: Caller, request: Request) -> Caller:
    if caller.context != RequestContext():
        return caller
    context = RequestContext(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request.headers.get("x-request-id"),
    )
    return Caller(caller.organization, caller.actor, caller.role, context)


def _guard(authorize: Authorize, service: StreamService, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        caller = await authorize(request)
        if caller is None:
            return _error(401, "unauthorized", "an admin API key is required")
        if caller.role != "admin":
            return _error(403, "forbidden", "log streams are managed by admins")
        try:
            return await endpoint(request, _with_request_context(caller, request), service)
        except StreamError as exc:
            return _error(exc.status, exc.code, exc.message)

    handle.__doc__ = endpoint.__doc__
    handle.__name__ = endpoint.__name__
    return handle


async def list_streams(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'List the organisation''s log streams with their delivery status'
    responses:
      '200': {description: 'An object {"streams": [...]}'}
    """
    return JSONResponse({"streams": [render(s) for s in await service.list_streams(caller)]})


async def create_stream(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'Create a log stream from {"type", "name", "config", "filter"?, "format"?}'
    responses:
      '201': {description: 'The stream; secret config fields are never returned'}
      '400': {description: 'Invalid type, name, config, filter or format, or a destination on a network streams may not reach'}
      '409': {description: 'A stream with this name exists'}
    """
    return JSONResponse(render(await service.create(caller, await _json(request))), status_code=201)


async def get_stream(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'A log stream with its status (state, cursor, lag, last success and error, dead letters)'
    responses:
      '200': {description: 'The stream'}
      '404': {description: 'No such stream in this organisation'}
    """
    return JSONResponse(render(await service.get(caller, request.path_params["stream_id"])))


async def list_dead_letters(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'Batches the receiver refused for good, newest first (replay from first_sequence to resend)'
    responses:
      '200': {description: 'An object {"dead_letters": [{"batch_id", "first_sequence", "last_sequence", "reason", "created_at"}]}'}
    """
    letters = await service.dead_letters(caller, request.path_params["stream_id"])
    return JSONResponse({"dead_letters": letters})


async def update_stream(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'Change a stream''s name, format, filter or config (config fields merge; null removes)'
    responses:
      '200': {description: 'The stream'}
      '400': {description: 'Invalid change'}
    """
    body = await _json(request)
    return JSONResponse(render(await service.update(caller, request.path_params["stream_id"], body)))


async def delete_stream(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'Delete a stream and its dead letters'
    responses:
      '204': {description: 'Deleted'}
    """
    await service.delete(caller, request.path_params["stream_id"])
    return Response(status_code=204)


async def pause_stream(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'Pause delivery; the backlog is kept and delivered on resume'
    responses:
      '200': {description: 'The stream'}
    """
    return JSONResponse(render(await service.pause(caller, request.path_params["stream_id"])))


async def resume_stream(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'Resume a paused or disabled stream where it stopped'
    responses:
      '200': {description: 'The stream'}
    """
    return JSONResponse(render(await service.resume(caller, request.path_params["stream_id"])))


async def replay_stream(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'Deliver again from {"from_sequence": n}'
    responses:
      '200': {description: 'The stream, its cursor moved to n - 1'}
    """
    body = await _json(request)
    return JSONResponse(render(await service.replay(caller, request.path_params["stream_id"], body)))


async def test_stream(request: Request, caller: Caller, service: StreamService) -> Response:
    """
    summary: 'Send one test event through the stream''s sink now'
    responses:
      '200': {description: 'An object {"delivered": bool, "outcome": "delivered" | "retry" | "rejected", "reason"?}'}
    """
    outcome = await service.send_test(caller, request.path_params["stream_id"])
    if isinstance(outcome, Delivered):
        return JSONResponse({"delivered": True, "outcome": "delivered"})
    kind = "retry" if isinstance(outcome, Retry) else "rejected"
    assert isinstance(outcome, Retry | Rejected)
    return JSONResponse({"delivered": False, "outcome": kind, "reason": outcome.reason})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


def streams_routes(
    transactions: Transactions,
    *,
    secret_key: str | bytes,
    authorize: Authorize,
    prefix: str = "/api/v1/streams",
    request_timeout: float = 15.0,
    destinations: DestinationPolicy | None = None,
) -> list[BaseRoute]:
    """The streams admin endpoints under ``prefix``, to add to the host's own route table.

    Routes in the host's table answer the bare collection path (``/api/v1/streams``) directly,
    where a ``Mount`` would first redirect it to ``/api/v1/streams/``.
    ``secret_key`` (the server's ``SCIMTRAIL_SECRET_KEY``) keys the encryption of stream
    secrets at rest; the relay's :class:`~audit.relay.delivery.DeliveryStage` needs the same.
    ``destinations`` says where streams may send (default: public addresses only); a stream
    whose URL or host it refuses is a 400 ``invalid_config`` naming the field.
    """
    service = StreamService(
        transactions, SecretBox(secret_key), request_timeout=request_timeout, destinations=destinations
    )
    prefix = prefix.rstrip("/")

    def route(path: str, endpoint: Endpoint, method: str) -> Route:
        return Route(prefix + path or "/", _guard(authorize, service, endpoint), methods=[method])

    return [
        route("", list_streams, "GET"),
        route("", create_stream, "POST"),
        route("/{stream_id}", get_stream, "GET"),
        route("/{stream_id}", update_stream, "PATCH"),
        route("/{stream_id}", delete_stream, "DELETE"),
        route("/{stream_id}/dead-letters", list_dead_letters, "GET"),
        route("/{stream_id}/pause", pause_stream, "POST"),
        route("/{stream_id}/resume", resume_stream, "POST"),
        route("/{stream_id}/replay", replay_stream, "POST"),
        route("/{stream_id}/test", test_stream, "POST"),
    ]


def streams_openapi_paths(prefix: str = "/streams") -> dict[str, Any]:
    """OpenAPI path items for the endpoints under ``prefix``, to merge into the host's document."""

    async def nobody(request: Request) -> Caller | None:
        return None

    routes = streams_routes(_NoTransactions(), secret_key=b"openapi", authorize=nobody, prefix=prefix)
    paths: dict[str, Any] = SchemaGenerator({}).get_schema(routes)["paths"]
    for path, item in paths.items():
        for operation in item.values():
            operation["tags"] = ["log streams"]
            operation["responses"].update(_COMMON_RESPONSES)
            if "{stream_id}" in path:
                operation["parameters"] = [{"name": "stream_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return paths


class _NoTransactions:
    """Stands in for the database when routes are built only to be described."""

    def write(self) -> Any:
        raise RuntimeError("described, not served")

    read = write


_COMMON_RESPONSES = {
    "401": {"description": "No valid admin API key"},
    "403": {"description": "Auditors cannot manage log streams"},
}


def create_streams_app(
    transactions: Transactions,
    *,
    secret_key: str | bytes,
    authorize: Authorize,
    request_timeout: float = 15.0,
    destinations: DestinationPolicy | None = None,
) -> Starlette:
    """The streams admin endpoints as an app of their own, to ``Mount`` at ``/api/v1/streams``."""
    routes = streams_routes(
        transactions,
        secret_key=secret_key,
        authorize=authorize,
        prefix="",
        request_timeout=request_timeout,
        destinations=destinations,
    )
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
