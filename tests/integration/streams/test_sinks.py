"""Splunk HEC, Datadog and S3 delivery against receivers that enforce each documented protocol."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from scim_server.storage.engine import Database
from tests.support.receivers import DatadogReceiver, Fault, Served, SplunkHecReceiver
from tests.support.server import free_port

from .conftest import ADMIN, create_stream, seed, service, stage, stream_row

HEC_TOKEN = "0d5e1f7c-hec-token"
DD_KEY = "dd-api-key-0123456789abcdef"

# -- Splunk HEC ------------------------------------------------------------------------------


async def test_splunk_hec_envelopes_are_exact(db: Database) -> None:
    await seed(db, 3)
    hec = SplunkHecReceiver(HEC_TOKEN)
    async with Served(hec.app) as served:
        config = {"url": served.url, "token": HEC_TOKEN, "index": "main", "host": "scim-1"}
        stream_id = await create_stream(db, "splunk_hec", config)
        assert await stage(db).run_once() == {stream_id: 3}
    assert not hec.rejections
    envelope = hec.envelopes[0]
    assert set(envelope) == {"time", "host", "source", "sourcetype", "index", "event", "fields"}
    event = envelope["event"]
    assert envelope["host"] == "scim-1" and envelope["index"] == "main"
    assert (envelope["source"], envelope["sourcetype"]) == ("scim-audit", "scim:audit")
    assert envelope["fields"] == {"organization": "acme", "action": "user.provisioned"}
    occurred = event["occurred_at"]
    from datetime import datetime

    assert envelope["time"] == round(datetime.fromisoformat(occurred).timestamp(), 3)
    assert [e["sequence"] for e in hec.received] == [1, 2, 3]


async def test_splunk_indexer_ack_moves_the_cursor_only_once_acknowledged(db: Database) -> None:
    await seed(db, 5)
    hec = SplunkHecReceiver(HEC_TOKEN, ack=True, ack_after_polls=3)
    async with Served(hec.app) as served:
        stream_id = await create_stream(db, "splunk_hec", {"url": served.url, "token": HEC_TOKEN, "ack": True})
        assert await stage(db).run_once() == {stream_id: 5}
    row = await stream_row(db, stream_id)
    assert row.cursor == 5
    assert hec.channels == {row.config["channel"]}  # one stable channel per stream
    assert [e["sequence"] for e in hec.received] == [1, 2, 3, 4, 5]


async def test_splunk_unacknowledged_batch_is_retried_not_advanced(db: Database) -> None:
    await seed(db, 2)
    hec = SplunkHecReceiver(HEC_TOKEN, ack=True, ack_after_polls=10_000)
    async with Served(hec.app) as served:
        config = {"url": served.url, "token": HEC_TOKEN, "ack": True, "ack_timeout": 0.3}
        stream_id = await create_stream(db, "splunk_hec", config)
        assert await stage(db).run_once() == {stream_id: 0}
    row = await stream_row(db, stream_id)
    assert row.cursor == 0 and "did not acknowledge" in row.last_error
    assert row.state == "active"  # a retry, not a rejection


@pytest.mark.parametrize(
    ("token", "index", "state", "error"),
    [
        ("wrong-token", None, "failing", "code 4"),  # stop: the stream's credentials are wrong
        (HEC_TOKEN, "nope", "failing", "code 7"),  # stop: the configured index does not exist
    ],
)
async def test_splunk_stop_codes_hold_the_cursor(
    db: Database, token: str, index: str | None, state: str, error: str
) -> None:
    await seed(db, 2)
    hec = SplunkHecReceiver(HEC_TOKEN)
    async with Served(hec.app) as served:
        config: dict[str, Any] = {"url": served.url, "token": token}
        if index:
            config["index"] = index
        stream_id = await create_stream(db, "splunk_hec", config)
        await stage(db).run_once()
    status = await service(db).get(ADMIN, stream_id)
    assert (status.stream.state, status.stream.cursor, status.dead_letters) == (state, 0, 0)
    assert error in (status.stream.last_error or "")


async def test_splunk_busy_code_9_is_retried(db: Database) -> None:
    await seed(db, 2)
    hec = SplunkHecReceiver(HEC_TOKEN)
    hec.fail_next(Fault(503, body={"text": "Server is busy", "code": 9}))
    async with Served(hec.app) as served:
        stream_id = await create_stream(db, "splunk_hec", {"url": served.url, "token": HEC_TOKEN})
        assert await stage(db).run_once() == {stream_id: 0}
        assert "code 9" in (await stream_row(db, stream_id)).last_error
        assert await stage(db).run_once() == {stream_id: 2}


async def test_splunk_malformed_data_code_6_is_dead_lettered(db: Database) -> None:
    await seed(db, 2)
    hec = SplunkHecReceiver(HEC_TOKEN)
    hec.fail_next(Fault(400, body={"text": "Invalid data format", "code": 6}))
    async with Served(hec.app) as served:
        stream_id = await create_stream(db, "splunk_hec", {"url": served.url, "token": HEC_TOKEN})
        await stage(db).run_once()
    status = await service(db).get(ADMIN, stream_id)
    assert (status.stream.state, status.stream.cursor, status.dead_letters) == ("failing", 2, 1)


# -- Datadog ---------------------------------------------------------------------------------


async def test_datadog_sends_gzip_arrays_with_the_documented_fields(db: Database) -> None:
    await seed(db, 4, actions=("group.created",))
    dd = DatadogReceiver(DD_KEY)
    async with Served(dd.app) as served:
        stream_id = await create_stream(
            db, "datadog", {"url": served.url, "api_key": DD_KEY, "hostname": "scim-1", "tags": ["env:prod"]}
        )
        assert await stage(db).run_once() == {stream_id: 4}
    assert not dd.rejections
    item = dd.items[0]
    assert (item["ddsource"], item["service"], item["hostname"]) == ("scim-audit", "scim-audit", "scim-1")
    assert item["ddtags"] == "org:acme,category:scim_provisioning,action:group.created,env:prod"
    assert item["date"] == item["audit"]["occurred_at"]
    assert item["message"] == "okta-prod: group.created user0@acme.example"
    assert [e["sequence"] for e in dd.received] == [1, 2, 3, 4]


async def test_datadog_413_splits_the_batch_until_it_fits(db: Database) -> None:
    await seed(db, 40)
    dd = DatadogReceiver(DD_KEY, max_payload_bytes=6_000)  # roughly 10 events per request
    async with Served(dd.app) as served:
        stream_id = await create_stream(db, "datadog", {"url": served.url, "api_key": DD_KEY})
        assert await stage(db).run_once() == {stream_id: 40}
    assert any(r.startswith("413") for r in dd.rejections)
    assert max(dd.payload_sizes) <= 6_000
    assert [e["sequence"] for e in dd.unique()] == list(range(1, 41))


async def test_datadog_bad_api_key_stops_the_stream(db: Database) -> None:
    await seed(db, 1)
    dd = DatadogReceiver(DD_KEY)
    async with Served(dd.app) as served:
        stream_id = await create_stream(db, "datadog", {"url": served.url, "api_key": "not-the-key"})
        await stage(db).run_once()
    row = await stream_row(db, stream_id)
    assert (row.state, row.cursor) == ("failing", 0) and "403" in row.last_error


# -- S3 (moto) -------------------------------------------------------------------------------

_MOTO = Path(os.environ.get("VIRTUAL_ENV", Path(__file__).parents[3] / ".venv")) / "bin" / "moto_server"


@pytest.fixture(scope="module")
def moto() -> Iterator[dict[str, str]]:
    """moto's S3 server with SigV4 checking on, an IAM user for the relay, an Object Lock bucket."""
    port = free_port()
    # The first three calls (IAM setup) go unauthenticated; every later request must be signed.
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    process = subprocess.Popen(
        [str(_MOTO), "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        iam = boto3.client(
            "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        iam.create_user(UserName="relay")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="relay", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="relay")["AccessKey"]
        yield {"url": url, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    finally:
        process.terminate()
        process.wait(10)


def _s3(moto: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto["url"],
        region_name="eu-west-1",
        aws_access_key_id=moto["access_key_id"],
        aws_secret_access_key=moto["secret_access_key"],
    )


@pytest.fixture
def bucket(moto: dict[str, str]) -> str:
    name = f"audit-{os.urandom(4).hex()}"
    _s3(moto).create_bucket(
        Bucket=name, ObjectLockEnabledForBucket=True, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return name


def _s3_config(moto: dict[str, str], bucket: str, **extra: str) -> dict[str, str]:
    return {
        "bucket": bucket,
        "region": "eu-west-1",
        "prefix": "scim",
        "endpoint_url": moto["url"],
        "access_key_id": moto["access_key_id"],
        "secret_access_key": moto["secret_access_key"],
        **extra,
    }


async def test_s3_writes_one_signed_gzip_ndjson_object_per_batch(
    db: Database, moto: dict[str, str], bucket: str
) -> None:
    await seed(db, 150)
    stream_id = await create_stream(db, "s3", _s3_config(moto, bucket))
    assert await stage(db).run_once() == {stream_id: 150}
    s3 = _s3(moto)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    async with db.read() as conn:
        from sqlalchemy import text

        first_at = (await conn.execute(text("select occurred_at from audit_events where sequence = 1"))).scalar_one()
    day = f"{first_at[0:4]}/{first_at[5:7]}/{first_at[8:10]}/{first_at[11:13]}"
    assert keys == [f"scim/org=acme/{day}/1-100.ndjson.gz", f"scim/org=acme/{day}/101-150.ndjson.gz"]
    head = s3.head_object(Bucket=bucket, Key=keys[0])
    body = s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    assert head["ContentType"] == "application/gzip" and "ContentEncoding" not in head
    assert head["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    assert head["Metadata"] == {
        "sha256": hashlib.sha256(body).hexdigest(),
        "first-seq": "1",
        "last-seq": "100",
        "batch-id": f"{stream_id}_1_100",
    }
    lines = gzip.decompress(body).decode().splitlines()
    assert [json.loads(line)["sequence"] for line in lines] == list(range(1, 101))


async def test_s3_retry_of_a_delivered_batch_finds_it_and_counts_as_delivered(
    db: Database, moto: dict[str, str], bucket: str
) -> None:
    await seed(db, 5)
    stream_id = await create_stream(db, "s3", _s3_config(moto, bucket))
    assert await stage(db).run_once() == {stream_id: 5}
    # As after a crash between the PUT and the cursor update: the same batch goes again.
    await service(db).replay(ADMIN, stream_id, {"from_sequence": 1})
    assert await stage(db).run_once() == {stream_id: 5}
    versions = _s3(moto).list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == 1  # If-None-Match: * kept the first object; nothing was overwritten


async def test_s3_wrong_secret_is_refused_by_sigv4_and_holds_the_cursor(
    db: Database, moto: dict[str, str], bucket: str
) -> None:
    await seed(db, 2)
    stream_id = await create_stream(db, "s3", _s3_config(moto, bucket, secret_access_key="not-the-secret"))
    await stage(db).run_once()
    row = await stream_row(db, stream_id)
    assert (row.state, row.cursor) == ("failing", 0)
    assert "SignatureDoesNotMatch" in row.last_error


async def test_an_ocsf_stream_sends_schema_valid_records(db: Database) -> None:
    from tests.unit.streams.test_formats import ocsf_problems

    await seed(db, 6, actions=("user.provisioned", "group.member_added", "scim_token.created"))
    hec = SplunkHecReceiver(HEC_TOKEN)
    async with Served(hec.app) as served:
        stream_id = await create_stream(db, "splunk_hec", {"url": served.url, "token": HEC_TOKEN}, format="ocsf")
        assert await stage(db).run_once() == {stream_id: 6}
    assert [record["class_uid"] for record in hec.received] == [3001, 3006, 3004] * 2
    assert all(ocsf_problems(record) == [] for record in hec.received)
    assert [record["metadata"]["sequence"] for record in hec.received] == [1, 2, 3, 4, 5, 6]
