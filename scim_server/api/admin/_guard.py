"""Who may call the admin API: an admin or auditor key (``sk_…``) of the organisation it acts on."""

from __future__ import annotations

import math
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network

from starlette.requests import Request

import audit
from audit.http import ApiError, client_ip, request_context
from scim_server.auth import AuthenticationFailed, Authenticator, Principal, RateLimiter
from scim_server.services import Caller

from ..scim_auth import authorization_header

__all__ = ["Guard"]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scimtrail-admin"'}


class Guard:
    """Authenticates admin API requests and decides what their role allows.

    Every refusal of the credential itself is the same 401, whatever the reason (unknown,
    expired, revoked, a SCIM credential); a valid key whose role does not allow the operation
    is a 403.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter,
        trusted_proxies: Sequence[IPv4Network | IPv6Network] = (),
    ) -> None:
        self.authenticator = authenticator
        self.limiter = limiter
        self.trusted_proxies = trusted_proxies

    def _context(self, request: Request) -> audit.RequestContext:
        return request_context(request, self.trusted_proxies)

    async def _principal(self, request: Request) -> Principal | None:
        try:
            return await self.authenticator.authenticate(
                authorization_header(request.scope), "admin", ip=client_ip(request, self.trusted_proxies)
            )
        except AuthenticationFailed:
            return None

    async def admin(self, request: Request) -> Caller:
        """The acting admin, or an :class:`ApiError` (401 no valid key, 403 auditor, 429 rate limit)."""
        principal = await self._principal(request)
        if principal is None:
            raise ApiError(
                401,
                "unauthorized",
                "A valid admin API key is required (Authorization: Bearer sk_…).",
                headers=_CHALLENGE,
            )
        retry_after = self.limiter.acquire(principal.credential_id)
        if retry_after is not None:
            wait = max(1, math.ceil(retry_after))
            raise ApiError(
                429,
                "rate_limited",
                f"Rate limit exceeded for this key; retry in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        if principal.kind != "admin":
            raise ApiError(403, "forbidden", "This operation needs an admin account; auditors read the audit log.")
        return Caller.of(principal, self._context(request))

    async def authorize(self, request: Request) -> audit.Caller | None:
        """:data:`audit.Authorize` for the audit sub-apps (``/api/v1/audit``, ``/api/v1/streams``)."""
        principal = await self._principal(request)
        if principal is None or principal.kind not in ("admin", "auditor"):
            return None
        return Caller.of(principal, self._context(request))
