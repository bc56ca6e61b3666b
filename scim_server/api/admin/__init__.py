"""The admin REST API under ``/api/v1``: the organisation, its credentials and its accounts.

Admins do everything here; auditors are refused (403) and read the audit log through the audit
sub-apps, which :meth:`Guard.authorize` authenticates for; SCIM credentials are not accepted (401).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from scim_server.services.credentials import Credentials

from ._errors import ApiError, error_response, exception_handlers
from ._guard import Guard
from ._openapi import openapi_document
from ._operations import OPERATIONS, Operation

__all__ = ["ApiError", "Guard", "admin_app", "error_response", "openapi_document"]


def _endpoint(op: Operation, credentials: Credentials, guard: Guard) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        acting = await guard.admin(request)
        return await op.handler(credentials, acting, request)

    endpoint.__name__ = op.name
    return endpoint


def admin_app(
    credentials: Credentials,
    guard: Guard,
    extra_routes: Sequence[BaseRoute] = (),
    extra_paths: Mapping[str, Any] | None = None,
) -> Starlette:
    """The admin API as an ASGI app, to mount at ``/api/v1``.

    ``extra_routes`` (e.g. ``Mount("/audit", …)``, ``Mount("/streams", …)``) are tried first, so
    that sub-apps with their own authorisation sit beside these routes under the same prefix.
    """
    document = openapi_document(extra_paths=extra_paths)

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    routes: list[BaseRoute] = [*extra_routes, Route("/openapi.json", openapi, methods=["GET"])]
    routes += [Route(op.path, _endpoint(op, credentials, guard), methods=[op.method]) for op in OPERATIONS]
    return Starlette(routes=routes, exception_handlers=exception_handlers)
