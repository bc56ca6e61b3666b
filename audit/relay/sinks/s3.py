"""Amazon S3 (and S3-compatible stores): one gzip NDJSON object per batch, written once.

The key is derived from the batch alone — ``{prefix}/org={slug}/YYYY/MM/DD/HH/{first}-{last}
.ndjson.gz``, dated by the first event — and the PUT carries ``If-None-Match: *``, so a retry
of a batch that did land finds its object there (412) and counts as delivered. ``Content-MD5``
is always sent: Object Lock buckets refuse uploads without an integrity header.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from ._base import Batch, Delivered, Outcome, Rejected, RejectScope, Retry, SinkConfigError, SinkContext
from ._config import check_known, optional_str, required_str, required_url
from ._http import RETRYABLE_STATUSES, request, retry_after
from ._sigv4 import Credentials, sign_request

__all__ = ["S3Sink", "object_key"]

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d$")


def object_key(prefix: str, batch: Batch) -> str:
    first = datetime.fromisoformat(batch.events[0]["occurred_at"]).astimezone(UTC)
    name = batch.test_id or f"{batch.first_sequence}-{batch.last_sequence}"
    path = f"org={batch.organization}/{first:%Y/%m/%d/%H}/{name}.ndjson.gz"
    return f"{prefix}/{path}" if prefix else path


class S3Sink:
    type_name: ClassVar[str] = "s3"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"access_key_id", "secret_access_key", "session_token"})
    max_batch_events: ClassVar[int] = 10_000
    destination_fields: ClassVar[frozenset[str]] = frozenset({"endpoint_url"})

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        check_known(
            config,
            {"bucket", "region", "prefix", "endpoint_url", "access_key_id", "secret_access_key", "session_token"},
        )
        bucket = required_str(config, "bucket")
        if not _BUCKET.match(bucket):
            raise SinkConfigError("config.bucket is not a valid S3 bucket name")
        region = optional_str(config, "region", "us-east-1") or "us-east-1"
        if not _REGION.match(region):
            raise SinkConfigError("config.region is not an AWS region name such as 'eu-west-1'")
        prefix = config.get("prefix", "")
        if not isinstance(prefix, str) or prefix.startswith("/") or ".." in prefix:
            raise SinkConfigError("config.prefix must be a relative key prefix")
        checked: dict[str, Any] = {
            "bucket": bucket,
            "region": region,
            "prefix": prefix.strip("/"),
            "access_key_id": required_str(config, "access_key_id"),
            "secret_access_key": required_str(config, "secret_access_key"),
        }
        if "endpoint_url" in config:
            checked["endpoint_url"] = required_url(config, "endpoint_url")
        if (token := optional_str(config, "session_token")) is not None:
            checked["session_token"] = token
        return checked

    def __init__(self, config: Mapping[str, Any], context: SinkContext) -> None:
        self._config = config
        self._credentials = Credentials(
            config["access_key_id"], config["secret_access_key"], config.get("session_token")
        )
        self._context = context

    def _url(self, key: str) -> str:
        bucket, region = self._config["bucket"], self._config["region"]
        encoded = quote(key, safe="/-_.~")
        if endpoint := self._config.get("endpoint_url"):
            return f"{endpoint}/{bucket}/{encoded}"  # path style, as S3-compatible stores expect
        return f"https://{bucket}.s3.{region}.amazonaws.com/{encoded}"

    async def aclose(self) -> None:
        return None  # the HTTP client belongs to the caller

    async def send(self, batch: Batch) -> Outcome:
        lines = b"".join(orjson.dumps(self._context.encoder(event)) + b"\n" for event in batch.events)
        # mtime=0: the same batch compresses to the same bytes, so a retry uploads an identical object.
        body = gzip.compress(lines, mtime=0)
        key = object_key(self._config["prefix"], batch)
        url = self._url(key)
        headers = sign_request(
            "PUT",
            url,
            {
                "content-type": "application/gzip",
                "content-md5": base64.b64encode(hashlib.md5(body).digest()).decode(),
                "if-none-match": "*",
                "x-amz-meta-sha256": hashlib.sha256(body).hexdigest(),
                "x-amz-meta-first-seq": str(batch.first_sequence),
                "x-amz-meta-last-seq": str(batch.last_sequence),
                "x-amz-meta-batch-id": batch.id,
            },
            body,
            credentials=self._credentials,
            region=self._config["region"],
            now=datetime.now(UTC),
        )
        response = await request(self._context.client, "PUT", url, content=body, headers=headers)
        if isinstance(response, Retry | Rejected):
            return response
        status = response.status_code
        if 200 <= status < 300 or status == 412:
            return Delivered()
        reason = f"S3 answered {status}: {_s3_error(response.text)}"
        if status in RETRYABLE_STATUSES or status >= 500 or status == 409:
            return Retry(reason, retry_after(response))
        if status in (301, 307, 400, 401, 403, 404):
            # Wrong region or endpoint, bad credentials, missing bucket: nothing this batch can fix.
            return Rejected(reason, RejectScope.STREAM)
        return Rejected(reason, RejectScope.BATCH)


def _s3_error(text: str) -> str:
    code = re.search(r"<Code>([^<]+)</Code>", text)
    return code.group(1) if code else text[:120]
