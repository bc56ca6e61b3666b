"""Where errors become responses: SCIM bodies under ``/scim/v2``, the API shape everywhere else.

``/api/v1`` renders its own errors (:mod:`audit.http`); the SCIM app uses :data:`exception_handlers`;
the rest of the server (``/``, unknown paths, health checks) uses :data:`page_exception_handlers`:
the API's ``{"error", "message"}`` JSON, or a small HTML page for a browser. Never a stack trace.
"""

from __future__ import annotations

import html

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Scope

from audit.http import ApiError, code_for, error_response
from scim_server.protocol.errors import ScimError

from .responses import ScimResponse

__all__ = ["error_for", "exception_handlers", "page_exception_handlers"]

_log = structlog.get_logger("scimtrail.errors")

#: The mount whose clients expect RFC 7644 error bodies.
SCIM_PREFIX = "/scim/v2"


def _in_scim(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return path == SCIM_PREFIX or path.startswith(SCIM_PREFIX + "/")


def error_for(scope: Scope, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error answered before any app saw the request (e.g. an oversized body): in the shape the path's clients read."""
    if _in_scim(scope):
        body = ScimError(message).to_dict()
        body["status"] = str(status)
        return ScimResponse(body, status_code=status, headers=headers)
    return error_response(ApiError(status, code_for(status), message, headers=headers))


# ---- the SCIM app -----------------------------------------------------------------------------


async def _scim_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScimError)
    if exc.status >= 500:
        _log.error("request failed", status=exc.status, detail=exc.detail)
    return ScimResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)


async def _scim_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = ScimError(exc.detail if isinstance(exc.detail, str) else None)
    body = error.to_dict()
    body["status"] = str(exc.status_code)
    if exc.status_code == 404:
        body["detail"] = f"No endpoint at {request.url.path}."
    elif exc.status_code == 405:
        body["detail"] = f"{request.method} is not supported on {request.url.path}."
    return ScimResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _scim_unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("unhandled error", path=request.url.path)
    body = ScimError("The server could not complete the request.").to_dict()
    body["status"] = "500"
    return ScimResponse(body, status_code=500)


exception_handlers = {ScimError: _scim_error, HTTPException: _scim_http_error, Exception: _scim_unexpected}


# ---- everything that is neither SCIM nor the API ------------------------------------------------


def _wants_html(request: Request) -> bool:
    # A browser lists text/html first; API clients and curl send */* or application/json.
    accept = request.headers.get("accept", "").lower()
    html_at, json_at = accept.find("text/html"), accept.find("application/json")
    return html_at >= 0 and (json_at < 0 or html_at < json_at)


def _page(request: Request, error: ApiError) -> Response:
    if not _wants_html(request):
        return error_response(error)
    title = html.escape(f"{error.status} {error.message}")
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>' + title + "</title></head>"
        "<body><h1>" + html.escape(str(error.status)) + "</h1><p>" + html.escape(error.message) + "</p>"
        "<p>The SCIM service is at <code>/scim/v2</code>, the admin API at <code>/api/v1</code>.</p></body></html>"
    )
    return HTMLResponse(page, status_code=error.status, headers=error.headers or None)


async def _page_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"There is nothing at {request.url.path}."
    elif exc.status_code == 405:
        message = f"{request.method} is not supported on {request.url.path}."
    else:
        message = str(exc.detail)
    return _page(request, ApiError(exc.status_code, code_for(exc.status_code), message, headers=exc.headers))


async def _page_scim_error(request: Request, exc: Exception) -> Response:
    # Raised outside the SCIM app only by the body-size limit, while a body streams in.
    assert isinstance(exc, ScimError)
    return _page(request, ApiError(exc.status, code_for(exc.status), exc.detail, headers=exc.headers))


async def _page_unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("unhandled error", path=request.url.path)
    return _page(request, ApiError(500, "internal_error", "The server could not complete the request."))


page_exception_handlers = {
    HTTPException: _page_http_error,
    ScimError: _page_scim_error,
    Exception: _page_unexpected,
}
