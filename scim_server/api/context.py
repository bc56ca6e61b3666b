"""What an endpoint derives from the HTTP request: the caller, the public base URL, preconditions.

Where a request came from (IP, user agent, request id) is built by :func:`audit.http.request_context`,
the one builder every API uses; this module adds what only SCIM needs.
"""

from __future__ import annotations

from starlette.requests import Request

from audit.http import Networks, from_trusted_proxy, request_context
from scim_server.protocol.resource import parse_etags
from scim_server.services import Caller, Preconditions

from .scim_auth import principal_of

__all__ = ["caller_of", "public_base_url", "preconditions_of"]


def public_base_url(request: Request, trusted: Networks) -> str:
    """The base URL of the mount the request came through (``https://host/scim/v2``) as the client
    used it; X-Forwarded-Proto/Host are believed only from trusted proxies."""
    scheme = request.url.scheme
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    if from_trusted_proxy(request, trusted):
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        fwd_host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
        if proto in ("http", "https"):
            scheme = proto
        if fwd_host and all(c.isalnum() or c in ".-:[]" for c in fwd_host):
            host = fwd_host
    return f"{scheme}://{host}{request.scope.get('root_path', '')}"


def caller_of(request: Request, trusted: Networks) -> Caller:
    return Caller.of(
        principal_of(request.scope),
        request_context(request, trusted),
        base_url=public_base_url(request, trusted),
    )


def preconditions_of(request: Request) -> Preconditions:
    header = request.headers.get("if-match")
    if header is None:
        return Preconditions()
    tags = parse_etags(header)
    return Preconditions(any_version=True) if tags is None else Preconditions(if_match=tags)
