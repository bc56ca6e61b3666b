"""Where a request came from, as recorded in audit events: client IP, user agent, request id.

Forwarding headers are believed only from trusted proxies; everything else is the peer's own.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence

from starlette.requests import HTTPConnection

from ..events import RequestContext

__all__ = ["Networks", "client_ip", "from_trusted_proxy", "request_context", "request_id_of", "sane_request_id"]

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]

#: Longest user agent kept: the rest is noise, and audit events must stay small.
_MAX_USER_AGENT = 256
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def from_trusted_proxy(request: HTTPConnection, trusted: Networks) -> bool:
    host = request.client.host if request.client else None
    if not host or not trusted:
        return False
    return _host_trusted(host, tuple(trusted))


@functools.lru_cache(maxsize=4096)
def _host_trusted(host: str, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    # Asked up to three times a request for the same few peers; parsing the address is the cost.
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(addr in net for net in trusted)


def client_ip(request: HTTPConnection, trusted: Networks = ()) -> str | None:
    """The client's address: the first ``X-Forwarded-For`` hop when the peer is a trusted proxy."""
    host = request.client.host if request.client else None
    if host and from_trusted_proxy(request, trusted):
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return host


def sane_request_id(incoming: str) -> str | None:
    """A client's ``X-Request-Id`` if it is safe to log and echo (short, no spaces or markup)."""
    return incoming if _SAFE_REQUEST_ID.match(incoming) else None


def request_id_of(request: HTTPConnection) -> str | None:
    """The id the host's middleware gave the request, else a sane ``X-Request-Id`` the client sent."""
    assigned = request.scope.get("state", {}).get("request_id")
    if assigned:
        return str(assigned)
    return sane_request_id(request.headers.get("x-request-id", ""))


def request_context(request: HTTPConnection, trusted: Networks = ()) -> RequestContext:
    """The :class:`~audit.RequestContext` every audited API call records."""
    return RequestContext(
        ip=client_ip(request, trusted),
        user_agent=(request.headers.get("user-agent") or "")[:_MAX_USER_AGENT] or None,
        request_id=request_id_of(request),
    )
