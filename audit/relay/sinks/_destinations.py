"""Where log streams may send: public addresses only, unless the operator allows more.

A stream's URL or host is an organisation admin's input, and the relay connects to it from
inside the deployment. Left unchecked, that lets an admin reach what only the server can reach
— loopback services, the cloud metadata endpoint (169.254.169.254), the internal network — and
``stream test`` or ``last_error`` would echo a little of each answer. So a destination is
checked twice:

- when a stream is created or changed (:meth:`DestinationPolicy.check_host`): an address, in
  any form ``getaddrinfo`` accepts (``2130706433``, ``0x7f.1``, ``127.1``, ``[::ffff:127.0.0.1]``,
  a trailing dot), and the ``localhost`` names are judged at once. Other names are not looked
  up then: what they resolve to can change at any time;
- every time the relay connects (:meth:`DestinationPolicy.connect`): the name is resolved, every
  address it resolves to is judged, and the connection goes to a judged address, never to the
  name again, so a second DNS answer cannot swap a public address for a private one between
  the check and the connection. A refusal is :class:`DestinationRefused`; nothing is sent.

Public means :attr:`ipaddress.IPv4Address.is_global` and not multicast, judged on the IPv4
address inside IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), NAT64
(``64:ff9b::/96``) and 6to4 (``2002::/16``) addresses. ``allow_private`` admits the other
unicast addresses too (loopback, RFC 1918, CGNAT, ULA, …) except link-local ones and the cloud
metadata addresses; ``allowed_networks`` admits exactly the networks listed. The unspecified
address (``0.0.0.0/8``, ``::``, which Linux connects to this machine) is never a destination.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

__all__ = ["DestinationPolicy", "DestinationRefused", "destination_host"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")

_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # "this host on this network": Linux connects 0.0.0.0 locally
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: Instance metadata services: AWS, Azure, GCP, Oracle (169.254.169.254), AWS ECS tasks,
#: Alibaba Cloud (inside the CGNAT range), AWS over IPv6 (inside the ULA range).
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))


class DestinationRefused(Exception):
    """A destination resolves to an address the policy does not allow; nothing was sent to it."""


def destination_host(value: str) -> str:
    """The host of a destination field: the host part of a URL, or the value itself."""
    return (urlsplit(value).hostname or "") if "://" in value else value


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it stands for one."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):  # not :: or ::1
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _unspecified(address: Address) -> bool:
    return address.is_unspecified or address in _THIS_NETWORK


def _kind(address: Address) -> str | None:
    """What makes an address non-public, or ``None`` for a public unicast address."""
    if _unspecified(address):
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if any(address in network for network in _PRIVATE):
        return "a private address"
    if not address.is_global or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local):
        return "a reserved address"  # documentation, benchmarking, protocol assignments, …
    return None


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Which addresses log streams may connect to. The default allows public addresses only."""

    #: Also allow non-public unicast addresses (loopback, RFC 1918, CGNAT, ULA, …), for a SIEM
    #: on the internal network; link-local and cloud metadata addresses stay refused.
    allow_private: bool = False
    #: Networks allowed whatever they are (e.g. the SIEM's subnet), metadata addresses included.
    allowed_networks: tuple[Network, ...] = ()

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` is not an allowed destination, or ``None`` if it is."""
        judged = _embedded_ipv4(address) or address
        if _unspecified(judged):
            return "an unspecified address"  # whatever the policy: it reaches this machine
        if any(a in network for a in {address, judged} for network in self.allowed_networks):
            return None
        kind = _kind(judged)
        if kind is None:
            return None
        if self.allow_private and not (judged.is_link_local or judged.is_multicast or judged in _METADATA):
            return None
        return kind if judged == address else f"{kind} ({judged})"

    def _judge(self, host: str, addresses: Iterable[Address]) -> None:
        for address in addresses:
            if (why := self.refusal(address)) is not None:
                said = f"{address} is" if str(address) == host else f"{host} resolves to {address},"
                raise DestinationRefused(
                    f"destination refused: {said} {why}; log streams deliver to public addresses only "
                    "unless the server's operator allows private networks"
                )

    def check_host(self, host: str) -> None:
        """At configuration time, without DNS: refuse a host that is a refused address.

        ``host`` is judged the way the relay's resolver will read it: IPv4 shorthand, decimal,
        octal and hex forms (whatever ``getaddrinfo`` parses as numeric), IPv6 with a zone,
        percent-encoded, full-width digits, a trailing dot, and ``localhost`` / ``*.localhost``
        (RFC 6761: always this machine). Other names pass here and are judged at connect time.
        """
        name = unicodedata.normalize("NFKC", unquote(host)).strip().strip("[]").lower().rstrip(".")
        name = name.split("%", 1)[0]
        if name == "localhost" or name.endswith(".localhost"):
            addresses: Iterable[Address] = _LOOPBACK
        else:
            try:
                infos = socket.getaddrinfo(name, None, flags=socket.AI_NUMERICHOST)
            except (socket.gaierror, UnicodeError, ValueError):
                return  # a name
            addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
        self._judge(host, addresses)

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, each one judged; :class:`DestinationRefused` if any is refused.

        Refusing the whole answer when any address is refused, rather than connecting to the
        acceptable ones, keeps the outcome independent of the resolver's order.
        """
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self._judge(host, (ipaddress.ip_address(a) for a in addresses))
        return addresses

    async def connect(self, host: str, port: int, attempt: Callable[[str], Awaitable[T]]) -> T:
        """Resolve and judge ``host``, then ``attempt(address)`` on each judged address until one connects.

        ``attempt`` gets a literal address, so it does no lookup of its own. Raises
        :class:`DestinationRefused`, :class:`socket.gaierror`, or the last attempt's error.
        """
        failure: Exception | None = None
        for address in await self.resolve(host, port):
            try:
                return await attempt(address)
            except Exception as exc:  # try the next address; the last failure is the one raised
                failure = exc
        raise failure or OSError(f"{host} resolves to no address")

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport whose every TCP connection goes through :meth:`connect`."""
        return _PinnedTransport(self)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with a network backend that connects only to judged addresses.

    The check sits at the socket layer (httpcore's ``AsyncNetworkBackend.connect_tcp``), below
    everything httpx does with the URL: whichever request a sink makes (and a redirect, were one
    followed), the connection is opened by :meth:`DestinationPolicy.connect` to an address it
    judged. The URL keeps its name, so the ``Host`` header, SNI and certificate verification are
    exactly as without pinning. httpx takes no network backend as a parameter, so the connection
    pool it builds is replaced by one built with the same public httpcore API and ours.
    Proxy environment variables are not used: a proxy would do its own resolution.
    """

    def __init__(self, policy: DestinationPolicy) -> None:
        super().__init__(trust_env=False)
        limits = httpx.Limits()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=True),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_JudgedBackend(policy),
        )


class _JudgedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: DestinationPolicy) -> None:
        self._policy = policy
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        async def attempt(address: str) -> httpcore.AsyncNetworkStream:
            return await self._backend.connect_tcp(address, port, timeout, local_address, socket_options)

        try:
            return await asyncio.wait_for(self._policy.connect(host, port, attempt), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host} timed out") from None
        except OSError as exc:  # the name does not resolve
            raise httpcore.ConnectError(f"{host}: {exc}") from None

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("log streams do not connect to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
