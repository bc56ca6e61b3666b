"""Datadog Logs intake (API v2): gzip JSON arrays within Datadog's per-request limits.

A batch is cut into requests of at most 1,000 items and 5 MB before compression. A 413 halves
the request and tries the halves, down to single items; an item Datadog still refuses alone is
the batch's fault and is dead-lettered with it.
"""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import orjson

from audit.formats import summarize

from ._base import Batch, Delivered, Outcome, Rejected, RejectScope, Retry, SinkConfigError, SinkContext
from ._config import check_known, optional_str, required_str, required_url
from ._http import RETRYABLE_STATUSES, request, retry_after

__all__ = ["DatadogSink"]

MAX_ITEMS = 1000
MAX_PAYLOAD_BYTES = 5 * 1024 * 1024
MAX_ITEM_BYTES = 1024 * 1024


class DatadogSink:
    type_name: ClassVar[str] = "datadog"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})
    max_batch_events: ClassVar[int] = MAX_ITEMS
    destination_fields: ClassVar[frozenset[str]] = frozenset({"url"})

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        check_known(config, {"site", "url", "api_key", "service", "hostname", "tags"})
        checked: dict[str, Any] = {
            "api_key": required_str(config, "api_key"),
            "service": optional_str(config, "service", "scim-audit"),
        }
        if "url" in config:
            checked["url"] = required_url(config, "url")
        else:
            site = optional_str(config, "site", "datadoghq.com") or "datadoghq.com"
            if "/" in site or ":" in site:
                raise SinkConfigError("config.site is a Datadog site such as 'datadoghq.eu', not a URL")
            checked["url"] = f"https://http-intake.logs.{site}"
        if (hostname := optional_str(config, "hostname")) is not None:
            checked["hostname"] = hostname
        tags = config.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and t and "," not in t for t in tags):
            raise SinkConfigError("config.tags must be a list of 'key:value' strings without commas")
        checked["tags"] = tags
        return checked

    def __init__(self, config: Mapping[str, Any], context: SinkContext) -> None:
        self._url = f"{config['url']}/api/v2/logs"
        self._service = str(config["service"])
        self._hostname = config.get("hostname") or socket.gethostname()
        self._tags = list(config.get("tags") or ())
        self._headers = {
            "dd-api-key": str(config["api_key"]),
            "content-type": "application/json",
            "content-encoding": "gzip",
        }
        self._context = context

    def _item(self, event: Mapping[str, Any]) -> bytes:
        tags = [f"org:{event['organization']}", f"category:{event['category']}", f"action:{event['action']}"]
        return orjson.dumps(
            {
                "ddsource": "scim-audit",
                "service": self._service,
                "hostname": self._hostname,
                "ddtags": ",".join(tags + self._tags),
                "message": summarize(event),
                "date": event["occurred_at"],
                "audit": self._context.encoder(event),
            }
        )

    async def aclose(self) -> None:
        return None  # the HTTP client belongs to the caller

    async def send(self, batch: Batch) -> Outcome:
        items = [self._item(event) for event in batch.events]
        if too_big := [i for i, item in enumerate(items) if len(item) > MAX_ITEM_BYTES]:
            return Rejected(f"event sequence {batch.events[too_big[0]]['sequence']} exceeds Datadog's 1 MB item limit")
        for chunk in _chunks(items):
            outcome = await self._post(chunk)
            if not isinstance(outcome, Delivered):
                return outcome
        return Delivered()

    async def _post(self, items: Sequence[bytes]) -> Outcome:
        body = gzip.compress(b"[" + b",".join(items) + b"]", compresslevel=6)
        response = await request(self._context.client, "POST", self._url, content=body, headers=self._headers)
        if isinstance(response, Retry | Rejected):
            return response
        status = response.status_code
        if status == 202 or 200 <= status < 300:
            return Delivered()
        if status == 413:
            if len(items) == 1:
                return Rejected("Datadog refused a single event as too large (413)")
            half = len(items) // 2
            first = await self._post(items[:half])
            return first if not isinstance(first, Delivered) else await self._post(items[half:])
        reason = f"Datadog answered {status}: {response.text[:200]}"
        if status in RETRYABLE_STATUSES or status >= 500:
            return Retry(reason, retry_after(response))
        if status in (400, 401, 403):
            return Rejected(reason, RejectScope.STREAM)
        return Rejected(reason, RejectScope.BATCH)


def _chunks(items: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    """Runs of items within the count limit and, brackets and commas included, the size limit."""
    start, size = 0, 2
    for index, item in enumerate(items):
        grown = size + len(item) + (1 if index > start else 0)
        if index > start and (index - start >= MAX_ITEMS or grown > MAX_PAYLOAD_BYTES):
            yield items[start:index]
            start, grown = index, 2 + len(item)
        size = grown
    if start < len(items):
        yield items[start:]
