"""Admin API errors: ``{"error": code, "message": …}`` with the right status, rendered in one place."""

from __future__ import annotations

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scim_server.protocol.errors import ScimError

__all__ = ["ApiError", "error_response", "exception_handlers"]

_log = structlog.get_logger("scimtrail.admin")

#: The admin API's code for each service error status (the services raise the SCIM error classes).
_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 412: "precondition_failed", 413: "too_large",
          422: "invalid_value", 429: "rate_limited"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScimError)
    # A value the service refused is well-formed JSON with a wrong value: 422, as for body fields.
    status = 422 if exc.scim_type == "invalidValue" else exc.status
    return error_response(status, _CODES.get(status, "error"), exc.detail)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"No endpoint at {request.url.path}."
    elif exc.status_code == 405:
        message = f"{request.method} is not supported on {request.url.path}."
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, _CODES.get(exc.status_code, "error"), message, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("unhandled error", path=request.url.path)
    return error_response(500, "internal_error", "The server could not complete the request.")


exception_handlers = {
    ApiError: _api_error,
    ScimError: _service_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
