"""Authentication for /scim/v2: the bearer credential decides the organisation."""

from __future__ import annotations

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from scim_server.auth import AuthenticationFailed, Principal, authenticate_bearer
from scim_server.protocol.errors import Unauthorized
from scim_server.storage.engine import Database

from .middleware import send_error

__all__ = ["ScimAuthMiddleware", "principal_of"]

_log = structlog.get_logger("scimtrail.auth")


def principal_of(scope: Scope) -> Principal:
    return scope["state"]["principal"]  # type: ignore[no-any-return]


class ScimAuthMiddleware:
    """Resolves the bearer credential before any SCIM handler runs; refuses with one 401 for every
    reason (unknown, malformed, expired, revoked) so that answers reveal nothing."""

    def __init__(self, app: ASGIApp, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        try:
            async with self.db.read() as conn:
                principal = await authenticate_bearer(conn, header)
        except AuthenticationFailed as failed:
            _log.info("credential rejected", reason=failed.reason, prefix=failed.prefix)
            error = Unauthorized()
            await send_error(send, 401, error.to_dict(), error.headers)
            return
        if not principal.is_scim:
            error = Unauthorized("This credential is not a SCIM credential.")
            await send_error(send, 401, error.to_dict(), error.headers)
            return
        scope.setdefault("state", {})["principal"] = principal
        structlog.contextvars.bind_contextvars(org=principal.org_slug, credential=principal.name)
        await self.app(scope, receive, send)


