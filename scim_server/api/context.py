"""What an endpoint derives from the HTTP request: the caller, the public base URL, preconditions."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

import audit
from starlette.requests import Request

from scim_server.protocol.resource import parse_etags
from scim_server.services import Caller, Preconditions

from .scim_auth import principal_of

__all__ = ["caller_of", "public_base_url", "preconditions_of", "client_ip"]

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def _trusted(request: Request, trusted: Networks) -> bool:
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


def public_base_url(request: Request, trusted: Networks) -> str:
    """The base URL of the mount the request came through (``https://host/scim/v2``) as the client
    used it; X-Forwarded-Proto/Host are believed only from trusted proxies."""
    scheme = request.url.scheme
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    if _trusted(request, trusted):
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        fwd_host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
        if proto in ("http", "https"):
            scheme = proto
        if fwd_host and all(c.isalnum() or c in ".-:[]" for c in fwd_host):
            host = fwd_host
    return f"{scheme}://{host}{request.scope.get('root_path', '')}"


def client_ip(request: Request, trusted: Networks) -> str | None:
    host = request.client.host if request.client else None
    if host and _trusted(request, trusted):
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return host


def caller_of(request: Request, trusted: Networks) -> Caller:
    return Caller.of(
        principal_of(request.scope),
        audit.RequestContext(
            ip=client_ip(request, trusted),
            user_agent=(request.headers.get("user-agent") or "")[:256] or None,
            request_id=request.scope.get("state", {}).get("request_id"),
        ),
        base_url=public_base_url(request, trusted),
    )


def preconditions_of(request: Request) -> Preconditions:
    header = request.headers.get("if-match")
    if header is None:
        return Preconditions()
    tags = parse_etags(header)
    return Preconditions(any_version=True) if tags is None else Preconditions(if_match=tags)
