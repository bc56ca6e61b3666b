"""Who is at the other end of the connection: X-Forwarded-* is believed only from trusted proxies."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

__all__ = ["Networks", "client_ip", "from_trusted_proxy"]

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def from_trusted_proxy(request: Request, trusted: Networks) -> bool:
    """Whether the request's peer is one of the ``trusted`` proxies."""
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


def client_ip(request: Request, trusted: Networks) -> str | None:
    """The client's address: the first X-Forwarded-For entry from a trusted proxy, else the peer's."""
    host = request.client.host if request.client else None
    if host and from_trusted_proxy(request, trusted):
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return host
