"""The HTTP edge shared by the sinks: transport failures become :class:`Retry`, once, here."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from ._base import Rejected, RejectScope, Retry
from ._destinations import DestinationRefused

__all__ = ["RETRYABLE_STATUSES", "request", "retry_after"]

#: Statuses that mean "not now" for every HTTP sink; each sink adds its own special cases.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header, given as delta-seconds or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


async def request(
    client: httpx.AsyncClient, method: str, url: str, *, content: bytes, headers: dict[str, str]
) -> httpx.Response | Retry | Rejected:
    """Send one request without following redirects; a network failure or timeout is a Retry.

    A destination the client's :class:`~audit.relay.sinks.DestinationPolicy` refuses is a
    Rejected for the stream: nothing was sent, and nothing will be until its config or DNS changes.
    """
    try:
        return await client.request(method, url, content=content, headers=headers, follow_redirects=False)
    except DestinationRefused as exc:
        return Rejected(str(exc), RejectScope.STREAM)
    except httpx.TimeoutException:
        return Retry("receiver timed out")
    except httpx.TransportError as exc:
        return Retry(f"receiver unreachable: {type(exc).__name__}")
