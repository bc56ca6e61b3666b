"""Small pieces of delivery with exact answers: backoff, Retry-After, batch ids, chunking, signing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from audit.relay.delivery import DeliverySettings, backoff
from audit.relay.sinks import Batch
from audit.relay.sinks._http import retry_after
from audit.relay.sinks.datadog import MAX_ITEMS, MAX_PAYLOAD_BYTES, _chunks
from audit.relay.sinks.webhook import sign

from .conftest import WEBHOOK_SECRET


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    settings = DeliverySettings(backoff_base=1.0, backoff_cap=30.0)
    for attempt, ceiling in ((1, 2.0), (3, 8.0), (10, 30.0), (60, 30.0)):
        delays = [backoff(attempt, settings) for _ in range(300)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2  # spread, not fixed


def test_backoff_never_undercuts_retry_after_but_bounds_it() -> None:
    settings = DeliverySettings(backoff_base=0.01, backoff_cap=0.05, max_retry_after=600)
    assert all(backoff(1, settings, retry_after=7.0) >= 7.0 for _ in range(50))
    assert backoff(1, settings, retry_after=86_400) == 600


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), ("0", 0.0), ("soon", None), (None, None)],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    headers = {"retry-after": header} if header is not None else {}
    assert retry_after(httpx.Response(429, headers=headers)) == expected


def test_retry_after_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= (retry_after(httpx.Response(503, headers={"retry-after": later})) or 0) <= 90


def test_batch_id_is_the_stream_and_its_sequence_range() -> None:
    batch = Batch("ls_01ABC", "acme", [{"sequence": 41}, {"sequence": 42}, {"sequence": 57}])
    assert (batch.id, batch.first_sequence, batch.last_sequence) == ("ls_01ABC_41_57", 41, 57)


def test_datadog_chunks_respect_item_count_and_payload_size() -> None:
    small = [b"{}"] * (MAX_ITEMS * 2 + 5)
    assert [len(c) for c in _chunks(small)] == [MAX_ITEMS, MAX_ITEMS, 5]
    # Three items of a third of the limit fit alone, but not with the brackets and commas.
    big = [b"x" * (MAX_PAYLOAD_BYTES // 3)] * 7
    chunks = list(_chunks(big))
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    assert all(2 + sum(len(i) for i in c) + len(c) - 1 <= MAX_PAYLOAD_BYTES for c in chunks)


def test_our_signature_is_the_reference_implementations() -> None:
    body = b'[{"id":"evt_1"}]'
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    ours = sign(key, "ls_1_1_1", 1_795_312_800, body)
    reference = Webhook(WEBHOOK_SECRET).sign("ls_1_1_1", datetime.fromtimestamp(1_795_312_800, UTC), body.decode())
    assert ours == reference
