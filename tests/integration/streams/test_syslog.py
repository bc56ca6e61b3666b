"""Syslog over TLS: RFC 5424 messages in octet-counted frames, and the resend after a broken link."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from scim_server.storage.engine import Database
from tests.support.receivers import SyslogTlsReceiver, self_signed_tls

from .conftest import ADMIN, create_stream, seed, service, stage, stream_row


@pytest.fixture
async def syslog() -> AsyncIterator[SyslogTlsReceiver]:
    receiver = await SyslogTlsReceiver().start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def _config(receiver: SyslogTlsReceiver, **extra: object) -> dict[str, object]:
    return {"host": "127.0.0.1", "port": receiver.port, "ca_cert": receiver.ca_pem, "hostname": "scim-1", **extra}


async def test_each_event_is_one_rfc5424_message_over_tls(db: Database, syslog: SyslogTlsReceiver) -> None:
    await seed(db, 3, actions=("user.provisioned", "credential.rejected"))
    stream_id = await create_stream(db, "syslog", _config(syslog))
    assert await stage(db).run_once() == {stream_id: 3}
    assert not syslog.rejections
    first, second = syslog.messages[0], syslog.messages[1]
    assert (first["pri"], first["hostname"], first["app"], first["procid"]) == ("110", "scim-1", "scim-audit", "-")
    assert (first["msgid"], second["msgid"], second["pri"]) == ("user.provisioned", "credential.rejected", "108")
    assert first["sd_id"] == "audit@32473"
    event = json.loads(first["msg"])
    assert first["timestamp"] == event["occurred_at"]
    assert first["params"] == {
        "id": event["id"],
        "seq": "1",
        "org": "acme",
        "actor": "okta-prod",
        "target": "user0@acme.example",
        "outcome": "success",
    }
    assert second["params"]["outcome"] == "failure"
    assert [e["sequence"] for e in syslog.received] == [1, 2, 3]


async def test_cef_format_travels_as_the_message(db: Database, syslog: SyslogTlsReceiver) -> None:
    await seed(db, 1)
    await create_stream(db, "syslog", _config(syslog), format="cef")
    await stage(db).run_once()
    message = syslog.messages[0]["msg"]
    assert message.startswith("CEF:0|scimtrail|SCIM Server|1|user.provisioned|")
    assert "duser=user0@acme.example" in message


async def test_a_broken_connection_resends_the_unconfirmed_batch(db: Database, syslog: SyslogTlsReceiver) -> None:
    await seed(db, 2)
    stream_id = await create_stream(db, "syslog", _config(syslog))
    relay = stage(db)
    worker = relay._worker(stream_id)
    try:
        assert await worker.drain() == 2
        await syslog.drop_connections()  # whatever was in flight may be gone
        await seed(db, 2)  # with the stream's own log_stream.created: sequences 3-5
        assert await worker.drain() == 3
    finally:
        await worker.close()
    sequences = [e["sequence"] for e in syslog.received]
    assert sequences == [1, 2, 1, 2, 3, 4, 5]  # the tail before the break, again, then the new batch
    assert [e["sequence"] for e in syslog.unique()] == [1, 2, 3, 4, 5]


async def test_an_untrusted_certificate_stops_the_stream(db: Database, syslog: SyslogTlsReceiver) -> None:
    await seed(db, 1)
    other_ca, _ = self_signed_tls()
    stream_id = await create_stream(db, "syslog", _config(syslog, ca_cert=other_ca))
    await stage(db).run_once()
    row = await stream_row(db, stream_id)
    assert (row.state, row.cursor) == ("failing", 0) and "not trusted" in row.last_error
    assert syslog.received == []


async def test_a_down_syslog_server_is_retried(db: Database) -> None:
    receiver = SyslogTlsReceiver()  # not started
    await seed(db, 2)
    stream_id = await create_stream(db, "syslog", _config(receiver))
    assert await stage(db).run_once() == {stream_id: 0}
    row = await stream_row(db, stream_id)
    assert (row.state, row.cursor) == ("active", 0) and "unreachable" in row.last_error
    await receiver.start()
    try:
        assert await stage(db).run_once() == {stream_id: 2}
    finally:
        await receiver.stop()
    status = await service(db).get(ADMIN, stream_id)
    assert status.stream.cursor == 2
