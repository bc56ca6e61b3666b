"""Authentication for /scim/v2: the bearer credential decides the organisation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from scim_server.auth import AuthenticationFailed, Authenticator, Principal, RateLimiter
from scim_server.protocol.errors import TooManyRequests, Unauthorized

from .middleware import send_error
from .peer import client_ip

__all__ = ["ScimAuthMiddleware", "principal_of", "authorization_header", "request_ip"]


def principal_of(scope: Scope) -> Principal:
    """The principal :class:`ScimAuthMiddleware` resolved for this request."""
    principal: Principal = scope["state"]["principal"]
    return principal


def authorization_header(scope: Scope) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)


def request_ip(scope: Scope, trusted: Sequence[IPv4Network | IPv6Network]) -> str | None:
    return client_ip(Request(scope), trusted)


class ScimAuthMiddleware:
    """Resolves the bearer credential (a SCIM token or an OAuth access token) before any SCIM
    handler runs; refuses with one 401 for every reason (unknown, malformed, expired, revoked,
    an admin key) so that answers reveal nothing; then applies the credential's rate limit."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        limiter: RateLimiter,
        trusted_proxies: Sequence[IPv4Network | IPv6Network] = (),
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(
                authorization_header(scope), "scim", ip=request_ip(scope, self.trusted_proxies)
            )
        except AuthenticationFailed:
            error = Unauthorized()
            await send_error(send, 401, error.to_dict(), error.headers)
            return
        retry_after = self.limiter.acquire(principal.credential_id)
        if retry_after is not None:
            wait = max(1, math.ceil(retry_after))
            limited = TooManyRequests(f"Rate limit exceeded for this credential; retry in {wait} s.")
            await send_error(send, 429, limited.to_dict(), {"Retry-After": str(wait)})
            return
        scope.setdefault("state", {})["principal"] = principal
        structlog.contextvars.bind_contextvars(org=principal.org_slug, credential=principal.name)
        await self.app(scope, receive, send)
