"""One JSON shape for every API error, and the exception handlers that produce it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._errors import ApiError
from ._translate import TRANSLATIONS, Translations, translate

__all__ = ["ERROR_SCHEMA", "JsonResponse", "error_response", "exception_handlers"]

_log = structlog.get_logger("audit.http")

#: The error body, for OpenAPI documents.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A stable, machine-readable code, e.g. unknown_parameter."},
        "message": {"type": "string", "description": "What was wrong, for people."},
        "details": {"type": "object", "description": "Data a client can act on, when there is any."},
    },
}


class JsonResponse(JSONResponse):
    """JSON via orjson: datetimes as RFC 3339 with ``Z``, as every API answer writes them."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


def error_response(error: ApiError) -> Response:
    body: dict[str, Any] = {"error": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    return JsonResponse(body, status_code=error.status, headers=error.headers or None)


Handler = Callable[[Request, Exception], Any]


def exception_handlers(extra: Translations | None = None) -> dict[Any, Handler]:
    """Starlette ``exception_handlers`` rendering every exception through :func:`translate`.

    ``extra`` adds the host's own foreign errors (e.g. its service errors) to the translation.
    """

    async def handle(request: Request, exc: Exception) -> Response:
        error = translate(exc, extra)
        if error.status >= 500:
            _log.error("request failed", path=request.url.path, exc_info=exc)
        return error_response(error)

    # Each known type is handled inside the app (so the response goes through its middleware);
    # ``Exception`` goes to Starlette's outermost middleware, so a bug still gets the same shape.
    return {kind: handle for kind in (ApiError, *TRANSLATIONS, *(extra or {}), Exception)}
