"""``/api/v1/streams``: the admin API for log streams, as operations the host mounts.

Admins only: no credential → 401, an auditor → 403. Stream configs are checked by each sink's
own validation (in :class:`StreamService`); the top-level fields are declared here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from audit.access import Authorize, Caller
from audit.events import CATALOGUE, RequestContext
from audit.formats import FORMATS
from audit.host import Transactions
from audit.http import ApiError, ApiInfo, Call, JsonResponse, Operation, Section, api_app, request_context
from audit.relay.sinks import SINKS, Delivered, DestinationPolicy, Rejected, Retry

from .crypto import SecretBox
from .model import STATES
from .service import StreamService, render

__all__ = ["SCHEMAS", "create_streams_app", "streams_section"]

_TAG = "log streams"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}

_FILTER = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "categories": {"type": "array", "items": {"type": "string", "enum": sorted(CATALOGUE)}},
        "actions": {"type": "array", "items": {"type": "string"}},
    },
}
_FIELDS = {
    "type": {"type": "string", "enum": sorted(SINKS), "description": "The sink type; it cannot change later."},
    "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"},
    "config": {"type": "object", "description": "The sink's settings; secret fields are write-only."},
    "filter": _FILTER,
    "format": {"type": "string", "enum": sorted(FORMATS), "default": "native"},
}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_STREAM = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "type": {"type": "string"},
        "format": {"type": "string"},
        "config": {"type": "object"},
        "filter": _FILTER,
        "state": {"type": "string", "enum": list(STATES)},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "status": {
            "type": "object",
            "properties": {
                "cursor": {"type": "integer"},
                "lag_events": {"type": "integer"},
                "lag_seconds": {"type": "number"},
                "last_success_at": _TIME_OR_NULL,
                "last_error": {"type": ["string", "null"]},
                "last_error_at": _TIME_OR_NULL,
                "failing_since": _TIME_OR_NULL,
                "dead_letters": {"type": "integer"},
            },
        },
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "StreamCreate": {
        "type": "object",
        "required": ["type", "name", "config"],
        "additionalProperties": False,
        "properties": _FIELDS,
    },
    "StreamUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": _FIELDS,
        "description": "Config fields merge into the current config; a field set to null is removed.",
    },
    "StreamReplay": {
        "type": "object",
        "required": ["from_sequence"],
        "additionalProperties": False,
        "properties": {"from_sequence": {"type": "integer", "minimum": 1}},
    },
    "Stream": _STREAM,
    "StreamList": {"type": "object", "properties": {"streams": {"type": "array", "items": _STREAM}}},
    "DeadLetterList": {
        "type": "object",
        "properties": {
            "dead_letters": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "batch_id": {"type": "string"},
                        "first_sequence": {"type": "integer"},
                        "last_sequence": {"type": "integer"},
                        "reason": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
            }
        },
    },
    "StreamTestOutcome": {
        "type": "object",
        "required": ["delivered", "outcome"],
        "properties": {
            "delivered": {"type": "boolean"},
            "outcome": {"type": "string", "enum": ["delivered", "retry", "rejected"]},
            "reason": {"type": "string"},
        },
    },
}


def _admins_only(authorize: Authorize) -> Callable[[Request], Awaitable[Caller]]:
    async def authenticate(request: Request) -> Caller:
        caller = await authorize(request)
        if caller is None:
            raise ApiError(401, "unauthorized", "An admin API key is required.", headers=_CHALLENGE)
        if caller.role != "admin":
            raise ApiError(403, "forbidden", "Log streams are managed by admins.")
        if caller.context == RequestContext():
            # A host that did not say where the request came from: take it from the request itself.
            caller = replace(caller, context=request_context(request))
        return caller

    return authenticate


def streams_section(
    transactions: Transactions,
    *,
    secret_key: str | bytes,
    authorize: Authorize,
    prefix: str = "/streams",
    request_timeout: float = 15.0,
    destinations: DestinationPolicy | None = None,
) -> Section[Caller]:
    """The streams admin operations under ``prefix``.

    ``secret_key`` (the server's ``SCIMTRAIL_SECRET_KEY``) keys the encryption of stream
    secrets at rest; the relay's :class:`~audit.relay.delivery.DeliveryStage` needs the same.
    ``destinations`` says where streams may send (default: public addresses only); a stream
    whose URL or host it refuses is a 400 ``invalid_config`` naming the field.
    """
    service = StreamService(
        transactions, SecretBox(secret_key), request_timeout=request_timeout, destinations=destinations
    )

    async def list_streams(call: Call[Caller]) -> Response:
        return JsonResponse({"streams": [render(s) for s in await service.list_streams(call.auth)]})

    async def create_stream(call: Call[Caller]) -> Response:
        return JsonResponse(render(await service.create(call.auth, call.body)), status_code=201)

    async def get_stream(call: Call[Caller]) -> Response:
        return JsonResponse(render(await service.get(call.auth, call.path("stream_id"))))

    async def list_dead_letters(call: Call[Caller]) -> Response:
        return JsonResponse({"dead_letters": await service.dead_letters(call.auth, call.path("stream_id"))})

    async def update_stream(call: Call[Caller]) -> Response:
        return JsonResponse(render(await service.update(call.auth, call.path("stream_id"), call.body)))

    async def delete_stream(call: Call[Caller]) -> Response:
        await service.delete(call.auth, call.path("stream_id"))
        return Response(status_code=204)

    async def pause_stream(call: Call[Caller]) -> Response:
        return JsonResponse(render(await service.pause(call.auth, call.path("stream_id"))))

    async def resume_stream(call: Call[Caller]) -> Response:
        return JsonResponse(render(await service.resume(call.auth, call.path("stream_id"))))

    async def replay_stream(call: Call[Caller]) -> Response:
        return JsonResponse(render(await service.replay(call.auth, call.path("stream_id"), call.body)))

    async def test_stream(call: Call[Caller]) -> Response:
        outcome = await service.send_test(call.auth, call.path("stream_id"))
        if isinstance(outcome, Delivered):
            return JsonResponse({"delivered": True, "outcome": "delivered"})
        assert isinstance(outcome, Retry | Rejected)
        kind = "retry" if isinstance(outcome, Retry) else "rejected"
        return JsonResponse({"delivered": False, "outcome": kind, "reason": outcome.reason})

    missing = {404: "No such stream in this organisation."}
    invalid = {
        400: "An invalid type, name, config (invalid_config names the field), filter or format, or a "
        "destination on a network streams may not reach."
    }
    conflict = {409: "A stream with this name exists."}
    operations: tuple[Operation[Caller], ...] = (
        Operation(
            "GET",
            "",
            "listStreams",
            "List the organisation's log streams with their delivery status.",
            list_streams,
            _TAG,
            response="StreamList",
        ),
        Operation(
            "POST",
            "",
            "createStream",
            "Create a log stream; secret config fields are never returned.",
            create_stream,
            _TAG,
            201,
            "StreamCreate",
            "Stream",
            errors={**invalid, **conflict},
        ),
        Operation(
            "GET",
            "/{stream_id}",
            "getStream",
            "A log stream with its status (state, cursor, lag, last success and error, dead letters).",
            get_stream,
            _TAG,
            response="Stream",
            errors=missing,
        ),
        Operation(
            "PATCH",
            "/{stream_id}",
            "updateStream",
            "Change a stream's name, format, filter or config (config fields merge; null removes).",
            update_stream,
            _TAG,
            request="StreamUpdate",
            response="Stream",
            errors={**invalid, **missing, **conflict},
        ),
        Operation(
            "DELETE",
            "/{stream_id}",
            "deleteStream",
            "Delete a stream and its dead letters.",
            delete_stream,
            _TAG,
            204,
            errors=missing,
        ),
        Operation(
            "GET",
            "/{stream_id}/dead-letters",
            "listStreamDeadLetters",
            "Batches the receiver refused for good, newest first (replay from first_sequence to resend).",
            list_dead_letters,
            _TAG,
            response="DeadLetterList",
            errors=missing,
        ),
        Operation(
            "POST",
            "/{stream_id}/pause",
            "pauseStream",
            "Pause delivery; the backlog is kept for resume.",
            pause_stream,
            _TAG,
            response="Stream",
            errors=missing,
        ),
        Operation(
            "POST",
            "/{stream_id}/resume",
            "resumeStream",
            "Resume a paused or disabled stream where it stopped.",
            resume_stream,
            _TAG,
            response="Stream",
            errors=missing,
        ),
        Operation(
            "POST",
            "/{stream_id}/replay",
            "replayStream",
            "Deliver again from from_sequence (the cursor moves to from_sequence - 1).",
            replay_stream,
            _TAG,
            request="StreamReplay",
            response="Stream",
            errors={**missing, 400: "from_sequence is missing or not an integer ≥ 1."},
        ),
        Operation(
            "POST",
            "/{stream_id}/test",
            "testStream",
            "Send one test event through the stream's sink now.",
            test_stream,
            _TAG,
            response="StreamTestOutcome",
            errors=missing,
        ),
    )
    return Section(
        prefix,
        operations,
        _admins_only(authorize),
        {401: "No valid admin API key.", 403: "Auditors cannot manage log streams."},
        SCHEMAS,
    )


def create_streams_app(
    transactions: Transactions,
    *,
    secret_key: str | bytes,
    authorize: Authorize,
    request_timeout: float = 15.0,
    destinations: DestinationPolicy | None = None,
) -> Starlette:
    """The streams admin operations as an app of their own, to ``Mount`` at ``/api/v1/streams``."""
    section = streams_section(
        transactions,
        secret_key=secret_key,
        authorize=authorize,
        prefix="",
        request_timeout=request_timeout,
        destinations=destinations,
    )
    return api_app([section], ApiInfo("scimtrail log streams API", "Manage an organisation's SIEM log streams."))
