"""Splunk HTTP Event Collector, with optional indexer acknowledgement.

One POST per batch to ``/services/collector/event``: concatenated JSON envelopes, one per line.
With ``ack`` on, HEC answers with an ``ackId`` and the batch counts as delivered only once
``/services/collector/ack`` reports it indexed; until then the cursor stays where it is.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import orjson

from ._base import Batch, Delivered, Outcome, Rejected, RejectScope, Retry, SinkConfigError, SinkContext
from ._config import check_known, optional_bool, optional_number, optional_str, required_str, required_url
from ._http import request, retry_after

__all__ = ["SplunkHecSink"]

#: HEC ``code`` values (Splunk, "Troubleshoot HTTP Event Collector") and what each asks of us.
_RETRY_CODES = frozenset({8, 9})
_STOP_CODES = frozenset({1, 2, 3, 4, 7, 10, 11, 14, 16})
#: Codes that mean we sent something malformed: the batch is dead-lettered, not retried.
_OUR_BUG_CODES = frozenset({5, 6, 12, 13, 15})


class SplunkHecSink:
    type_name: ClassVar[str] = "splunk_hec"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"token"})
    max_batch_events: ClassVar[int] = 1000
    destination_fields: ClassVar[frozenset[str]] = frozenset({"url"})

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        check_known(config, {"url", "token", "index", "host", "source", "sourcetype", "ack", "ack_timeout", "channel"})
        checked: dict[str, Any] = {
            "url": required_url(config, "url"),
            "token": required_str(config, "token"),
            "source": optional_str(config, "source", "scim-audit"),
            "sourcetype": optional_str(config, "sourcetype", "scim:audit"),
            "ack": optional_bool(config, "ack", False),
            "ack_timeout": optional_number(config, "ack_timeout", 60, low=0.1, high=600),
        }
        for name in ("index", "host"):
            if (value := optional_str(config, name)) is not None:
                checked[name] = value
        channel = optional_str(config, "channel") or str(uuid.uuid4())
        try:
            checked["channel"] = str(uuid.UUID(channel))
        except ValueError:
            raise SinkConfigError("config.channel must be a UUID") from None
        return checked

    def __init__(self, config: Mapping[str, Any], context: SinkContext) -> None:
        self._base = str(config["url"])
        self._config = config
        self._host = config.get("host") or socket.gethostname()
        self._headers = {
            "authorization": f"Splunk {config['token']}",
            "x-splunk-request-channel": str(config["channel"]),
            "content-type": "application/json",
        }
        self._context = context

    def _envelope(self, event: Mapping[str, Any]) -> bytes:
        envelope: dict[str, Any] = {
            "time": round(datetime.fromisoformat(event["occurred_at"]).timestamp(), 3),
            "host": self._host,
            "source": self._config["source"],
            "sourcetype": self._config["sourcetype"],
            "event": self._context.encoder(event),
            "fields": {"organization": event["organization"], "action": event["action"]},
        }
        if self._config.get("index"):
            envelope["index"] = self._config["index"]
        return orjson.dumps(envelope)

    async def aclose(self) -> None:
        return None  # the HTTP client belongs to the caller

    async def send(self, batch: Batch) -> Outcome:
        body = b"\n".join(self._envelope(event) for event in batch.events)
        url = f"{self._base}/services/collector/event"
        response = await request(self._context.client, "POST", url, content=body, headers=self._headers)
        if isinstance(response, Retry | Rejected):
            return response
        code, text = _hec_answer(response.content)
        reason = f"HEC answered {response.status_code} code {code}: {text}"
        if response.status_code == 200 and code == 0:
            if not self._config["ack"]:
                return Delivered()
            ack_id = orjson.loads(response.content).get("ackId")
            if not isinstance(ack_id, int):
                return Rejected(
                    "HEC returned no ackId: indexer acknowledgement is off for this token", RejectScope.STREAM
                )
            return await self._await_ack(ack_id)
        if code in _RETRY_CODES or response.status_code >= 500 or response.status_code == 429:
            return Retry(reason, retry_after(response))
        if code in _OUR_BUG_CODES:
            return Rejected(reason, RejectScope.BATCH)
        if code in _STOP_CODES or response.status_code in (401, 403):
            return Rejected(reason, RejectScope.STREAM)
        return Rejected(reason, RejectScope.BATCH)

    async def _await_ack(self, ack_id: int) -> Outcome:
        url = f"{self._base}/services/collector/ack?channel={self._config['channel']}"
        body = orjson.dumps({"acks": [ack_id]})
        deadline = time.monotonic() + float(self._config["ack_timeout"])
        pause = 0.05
        while True:
            response = await request(self._context.client, "POST", url, content=body, headers=self._headers)
            if isinstance(response, Rejected):
                return response
            if not isinstance(response, Retry) and response.status_code == 200:
                acks = orjson.loads(response.content).get("acks") or {}
                if acks.get(str(ack_id)) is True:
                    return Delivered()
            elif not isinstance(response, Retry) and response.status_code < 500:
                code, text = _hec_answer(response.content)
                return Rejected(f"HEC ack answered {response.status_code} code {code}: {text}", RejectScope.STREAM)
            if time.monotonic() + pause > deadline:
                # Never acknowledged: send again. Splunk may then hold two copies of the batch,
                # which the event ids let searches collapse.
                return Retry(f"HEC did not acknowledge ackId {ack_id} in time")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)


def _hec_answer(content: bytes) -> tuple[int | None, str]:
    try:
        answer = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None, content[:200].decode(errors="replace")
    if not isinstance(answer, dict):
        return None, str(answer)[:200]
    code = answer.get("code")
    return (code if isinstance(code, int) else None), str(answer.get("text", ""))[:200]
