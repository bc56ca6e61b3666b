"""One place where errors become responses: SCIM bodies under /scim, never a stack trace."""

from __future__ import annotations

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from scim_server.protocol.errors import ScimError

from .responses import ScimResponse

__all__ = ["exception_handlers"]

_log = structlog.get_logger("scimtrail.errors")


async def _scim_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScimError)
    if exc.status >= 500:
        _log.error("request failed", status=exc.status, detail=exc.detail)
    return ScimResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = ScimError(exc.detail if isinstance(exc.detail, str) else None)
    body = error.to_dict()
    body["status"] = str(exc.status_code)
    if exc.status_code == 404:
        body["detail"] = f"No endpoint at {request.url.path}."
    elif exc.status_code == 405:
        body["detail"] = f"{request.method} is not supported on {request.url.path}."
    return ScimResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("unhandled error", path=request.url.path)
    body = ScimError("The server could not complete the request.").to_dict()
    body["status"] = "500"
    return ScimResponse(body, status_code=500)


exception_handlers = {ScimError: _scim_error, HTTPException: _http_error, Exception: _unexpected}
