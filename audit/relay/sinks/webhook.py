"""Generic HTTPS endpoint, signed per the Standard Webhooks specification.

Body: a JSON array of events. Headers: ``webhook-id`` (the batch id, stable across retries),
``webhook-timestamp`` (this attempt) and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256>`` over
``id.timestamp.body``, keyed with the base64-decoded part of the ``whsec_`` secret. While a
secret is being rotated, the previous one signs too (space-separated signatures).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from ._base import Batch, Delivered, Outcome, Rejected, RejectScope, Retry, SinkConfigError, SinkContext
from ._config import check_known, optional_str, required_url
from ._http import RETRYABLE_STATUSES, request, retry_after

__all__ = ["WebhookSink", "sign"]

_PREFIX = "whsec_"


def _key(secret: str, field: str) -> bytes:
    if not secret.startswith(_PREFIX):
        raise SinkConfigError(f"config.{field} must be a Standard Webhooks secret starting with {_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SinkConfigError(f"config.{field} is not valid base64 after {_PREFIX!r}") from None
    if not 24 <= len(key) <= 64:
        raise SinkConfigError(f"config.{field} must hold 24 to 64 random bytes")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<signature>`` entry for the ``webhook-signature`` header."""
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class WebhookSink:
    type_name: ClassVar[str] = "webhook"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"secret", "previous_secret", "authorization"})
    max_batch_events: ClassVar[int] = 1000
    destination_fields: ClassVar[frozenset[str]] = frozenset({"url"})

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        check_known(config, {"url", "secret", "previous_secret", "authorization"})
        checked: dict[str, Any] = {"url": required_url(config, "url")}
        secret = config.get("secret")
        if not isinstance(secret, str):
            raise SinkConfigError("config.secret is required: a whsec_… signing secret")
        _key(secret, "secret")
        checked["secret"] = secret
        if (previous := optional_str(config, "previous_secret")) is not None:
            _key(previous, "previous_secret")
            checked["previous_secret"] = previous
        if (authorization := optional_str(config, "authorization")) is not None:
            checked["authorization"] = authorization
        return checked

    def __init__(self, config: Mapping[str, Any], context: SinkContext) -> None:
        self._url = str(config["url"])
        self._keys = [_key(config["secret"], "secret")]
        if config.get("previous_secret"):
            self._keys.append(_key(config["previous_secret"], "previous_secret"))
        self._authorization = config.get("authorization")
        self._context = context

    async def aclose(self) -> None:
        return None  # the HTTP client belongs to the caller

    async def send(self, batch: Batch) -> Outcome:
        body = orjson.dumps([self._context.encoder(event) for event in batch.events])
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": batch.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(sign(key, batch.id, timestamp, body) for key in self._keys),
        }
        if self._authorization:
            headers["authorization"] = self._authorization
        response = await request(self._context.client, "POST", self._url, content=body, headers=headers)
        if isinstance(response, Retry | Rejected):
            return response
        status = response.status_code
        if 200 <= status < 300:
            return Delivered()
        reason = f"webhook answered {status}"
        if status == 410:
            return Rejected(f"{reason}: endpoint gone", RejectScope.GONE)
        if status in RETRYABLE_STATUSES:
            return Retry(reason, retry_after(response))
        if 300 <= status < 400:
            return Rejected(f"{reason}: redirects are not followed", RejectScope.STREAM)
        if status in (401, 403, 404):
            return Rejected(reason, RejectScope.STREAM)
        return Rejected(f"{reason}: {response.text[:200]}", RejectScope.BATCH)
