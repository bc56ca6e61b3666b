"""``/api/v1/streams``: admin-only management, write-only encrypted secrets, audited changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import structlog
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

import audit
from audit.access import Caller
from audit.backends import unsealed
from audit.http import ApiInfo, api_app, openapi_document
from audit.metrics import exposition, refresh
from audit.streams import SecretBox, SecretBoxError, create_streams_app, streams_section
from audit.streams.tables import StreamRow
from audit.tables import AuditEventRow, OutboxRow
from scim_server.storage.engine import Database
from tests.support.receivers import Fault, Served, WebhookReceiver

from .conftest import LOCAL, SECRET_KEY, WEBHOOK_SECRET, seed, stage

AUDITOR = {"x-test-role": "auditor"}


async def _authorize(request: Request) -> Caller | None:
    role = request.headers.get("x-test-role")
    if role is None:
        return None
    org = request.headers.get("x-test-org", "acme")
    return Caller(org, audit.Actor(role, f"{role}@{org}.example"), role)  # type: ignore[arg-type]


@pytest.fixture
async def api(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    streams = create_streams_app(
        db, secret_key=SECRET_KEY, authorize=_authorize, request_timeout=1.0, destinations=LOCAL
    )
    host = Starlette(routes=[Mount("/api/v1/streams", app=streams)])
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"x-test-role": "admin"}
    ) as client:
        yield client


def _webhook(url: str = "https://siem.acme.example/hook", **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": "siem", "config": {"url": url, "secret": WEBHOOK_SECRET, **extra}}


async def _audit_log(db: Database) -> list[dict[str, Any]]:
    async with db.read() as conn:
        pending = [
            r.payload
            for r in await conn.execute(
                select(OutboxRow.__table__).where(unsealed(conn)).order_by(OutboxRow.__table__.c.pk)
            )
        ]
        sealed = [orjson.loads(r.body) for r in await conn.execute(select(AuditEventRow.__table__))]
    return sealed + pending


async def test_streams_are_for_admins_only(api: httpx.AsyncClient) -> None:
    no_credential = httpx.AsyncClient(transport=api._transport, base_url="http://test")
    async with no_credential:
        response = await no_credential.get("/api/v1/streams/")
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    for method, path in (("GET", "/api/v1/streams/"), ("POST", "/api/v1/streams/"), ("GET", "/api/v1/streams/ls_x")):
        response = await api.request(method, path, headers=AUDITOR, json=_webhook())
        assert response.status_code == 403 and response.json()["error"] == "forbidden"


async def test_create_returns_201_without_secrets_and_stores_them_encrypted(
    api: httpx.AsyncClient, db: Database
) -> None:
    response = await api.post("/api/v1/streams/", json=_webhook(authorization="Bearer s3cr3t-static"))
    assert response.status_code == 201
    body = response.json()
    assert body["config"] == {"url": "https://siem.acme.example/hook"}
    assert WEBHOOK_SECRET not in response.text and "s3cr3t-static" not in response.text
    assert (body["type"], body["name"], body["format"], body["state"]) == ("webhook", "siem", "native", "active")
    assert body["status"] == {
        "cursor": 0,
        "lag_events": 0,
        "lag_seconds": 0.0,
        "last_success_at": None,
        "last_error": None,
        "last_error_at": None,
        "failing_since": None,
        "dead_letters": 0,
    }
    async with db.read() as conn:
        row = (await conn.execute(select(StreamRow.__table__))).one()
    stored = orjson.dumps(dict(row._mapping)).decode()
    assert WEBHOOK_SECRET not in stored and "s3cr3t-static" not in stored
    box = SecretBox(SECRET_KEY)
    assert box.open(row.id, row.secrets) == {"secret": WEBHOOK_SECRET, "authorization": "Bearer s3cr3t-static"}
    with pytest.raises(SecretBoxError):
        SecretBox("another-server-key").open(row.id, row.secrets)
    with pytest.raises(SecretBoxError):
        box.open("ls_someoneelse", row.secrets)  # sealed to this stream's id
    listed = (await api.get("/api/v1/streams/")).json()["streams"]
    assert [s["id"] for s in listed] == [body["id"]]
    assert WEBHOOK_SECRET not in (await api.get(f"/api/v1/streams/{body['id']}")).text


@pytest.mark.parametrize(
    ("payload", "code", "fragment"),
    [
        (
            {"type": "webhook", "name": "siem", "config": {"url": "ftp://x", "secret": WEBHOOK_SECRET}},
            "invalid_config",
            "url",
        ),
        ({"type": "webhook", "name": "siem", "config": {"url": "https://x.example"}}, "invalid_config", "secret"),
        (
            {"type": "webhook", "name": "siem", "config": {"url": "https://x.example", "secret": "hunter2"}},
            "invalid_config",
            "whsec_",
        ),
        ({"type": "kafka", "name": "siem", "config": {}}, "invalid_config", "unknown stream type"),
        ({"type": "webhook", "name": "Not A Slug", "config": {}}, "invalid_request", "name"),
        ({**_webhook(), "format": "xml"}, "invalid_request", "format"),
        ({**_webhook(), "filter": {"actions": ["user.exploded"]}}, "invalid_request", "user.exploded"),
        ({**_webhook(), "colour": "red"}, "unknown_field", "colour"),
        (
            {"type": "splunk_hec", "name": "siem", "config": {"url": "https://x.example", "token": "t", "ack": "yes"}},
            "invalid_config",
            "ack",
        ),
        (
            {"type": "s3", "name": "siem", "config": {"bucket": "B!", "access_key_id": "a", "secret_access_key": "b"}},
            "invalid_config",
            "bucket",
        ),
        (
            {"type": "datadog", "name": "siem", "config": {"site": "https://evil.example", "api_key": "k"}},
            "invalid_config",
            "site",
        ),
    ],
)
async def test_bad_stream_definitions_are_400_with_a_reason(
    api: httpx.AsyncClient, payload: dict[str, Any], code: str, fragment: str
) -> None:
    response = await api.post("/api/v1/streams/", json=payload)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code and fragment in response.json()["message"]
    assert "hunter2" not in response.text


async def test_malformed_json_and_duplicates(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/streams/", content=b"{nope", headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_json")
    assert (await api.post("/api/v1/streams/", json=_webhook())).status_code == 201
    response = await api.post("/api/v1/streams/", json=_webhook())
    assert (response.status_code, response.json()["error"]) == (409, "conflict")


async def test_update_merges_config_and_keeps_write_only_secrets(api: httpx.AsyncClient, db: Database) -> None:
    stream_id = (await api.post("/api/v1/streams/", json=_webhook())).json()["id"]
    response = await api.patch(
        f"/api/v1/streams/{stream_id}",
        json={
            "config": {"url": "https://siem2.acme.example/hook"},
            "format": "ocsf",
            "filter": {"categories": ["authentication"]},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["config"] == {"url": "https://siem2.acme.example/hook"} and body["format"] == "ocsf"
    assert body["filter"] == {"categories": ["authentication"], "actions": []}
    async with db.read() as conn:
        row = (await conn.execute(select(StreamRow.__table__))).one()
    assert SecretBox(SECRET_KEY).open(row.id, row.secrets) == {"secret": WEBHOOK_SECRET}
    assert row.version == 2
    response = await api.patch(f"/api/v1/streams/{stream_id}", json={"type": "s3"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    response = await api.patch(f"/api/v1/streams/{stream_id}", json={"config": {"secret": "whsec_short"}})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_config")


async def test_changes_are_audited_without_secrets(api: httpx.AsyncClient, db: Database) -> None:
    with structlog.testing.capture_logs() as logs:
        stream_id = (await api.post("/api/v1/streams/", json=_webhook())).json()["id"]
        await api.patch(f"/api/v1/streams/{stream_id}", json={"config": {"secret": "whsec_" + "QUJD" * 8}})
        await api.post(f"/api/v1/streams/{stream_id}/pause")
        await api.post(f"/api/v1/streams/{stream_id}/resume")
        await api.post(f"/api/v1/streams/{stream_id}/test")  # unreachable host: fails, and is logged
        assert (await api.delete(f"/api/v1/streams/{stream_id}")).status_code == 204
    events = await _audit_log(db)
    assert [e["action"] for e in events] == [
        "log_stream.created",
        "log_stream.updated",
        "log_stream.updated",
        "log_stream.updated",
        "log_stream.deleted",
    ]
    assert all(e["targets"] == [{"type": "log_stream", "name": "siem"}] for e in events)
    assert events[0]["actor"] == {"type": "admin", "name": "admin@acme.example"}
    assert events[1]["metadata"] == {"changed": ["config.secret"]}
    assert events[2]["metadata"] == {"changed": ["state"], "state": "paused"}
    dumped = orjson.dumps([events, logs]).decode()
    assert WEBHOOK_SECRET[6:] not in dumped and "QUJD" * 8 not in dumped
    assert (await api.get(f"/api/v1/streams/{stream_id}")).status_code == 404


async def test_another_organisations_stream_is_404(api: httpx.AsyncClient) -> None:
    stream_id = (await api.post("/api/v1/streams/", json=_webhook())).json()["id"]
    other = {"x-test-role": "admin", "x-test-org": "globex"}
    for method, path in (
        ("GET", f"/api/v1/streams/{stream_id}"),
        ("PATCH", f"/api/v1/streams/{stream_id}"),
        ("DELETE", f"/api/v1/streams/{stream_id}"),
        ("POST", f"/api/v1/streams/{stream_id}/pause"),
        ("POST", f"/api/v1/streams/{stream_id}/test"),
    ):
        response = await api.request(method, path, headers=other, json={})
        assert (response.status_code, response.json()["error"]) == (404, "not_found"), (method, path)
    assert (await api.get("/api/v1/streams/", headers=other)).json() == {"streams": []}


async def test_pause_resume_replay_and_status(api: httpx.AsyncClient, db: Database) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    async with Served(receiver.app) as served:
        stream_id = (await api.post("/api/v1/streams/", json=_webhook(f"{served.url}/hook"))).json()["id"]
        await seed(db, 6)  # 7 sealed: the stream's own creation comes first
        assert (await api.post(f"/api/v1/streams/{stream_id}/pause")).json()["state"] == "paused"
        assert await stage(db).run_once() == {}
        status = (await api.get(f"/api/v1/streams/{stream_id}")).json()["status"]
        assert status["lag_events"] == 7 and status["lag_seconds"] >= 0
        assert (await api.post(f"/api/v1/streams/{stream_id}/resume")).json()["state"] == "active"
        await stage(db).run_once()
        status = (await api.get(f"/api/v1/streams/{stream_id}")).json()["status"]
        assert (status["cursor"], status["lag_events"]) == (7, 0) and status["last_success_at"]
        bad = await api.post(f"/api/v1/streams/{stream_id}/replay", json={"from_sequence": 0})
        assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")
        replayed = (await api.post(f"/api/v1/streams/{stream_id}/replay", json={"from_sequence": 6})).json()
        assert replayed["status"]["cursor"] == 5
        await stage(db).run_once()
    assert [e["sequence"] for e in receiver.received] == [1, 2, 3, 4, 5, 6, 7, 6, 7]


async def test_send_test_event(api: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    async with Served(receiver.app) as served:
        stream_id = (await api.post("/api/v1/streams/", json=_webhook(f"{served.url}/hook"))).json()["id"]
        response = await api.post(f"/api/v1/streams/{stream_id}/test")
        assert response.json() == {"delivered": True, "outcome": "delivered"}
    assert receiver.batch_ids[0].startswith(f"{stream_id}_test_")
    assert receiver.received[0]["metadata"]["test"] is True
    response = await api.post(f"/api/v1/streams/{stream_id}/test")  # receiver stopped
    assert response.json()["delivered"] is False and response.json()["outcome"] == "retry"
    assert "unreachable" in response.json()["reason"]


async def test_metrics_report_deliveries_and_lag(api: httpx.AsyncClient, db: Database) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    async with Served(receiver.app) as served:
        stream_id = (await api.post("/api/v1/streams/", json=_webhook(f"{served.url}/hook"))).json()["id"]
        await seed(db, 4)
        await refresh(db)
        text = exposition().decode()
        assert f'scimtrail_stream_lag_events{{stream="{stream_id}"}} 5.0' in text
        await stage(db).run_once()
    await refresh(db)
    text = exposition().decode()
    assert f'scimtrail_stream_lag_events{{stream="{stream_id}"}} 0.0' in text
    assert f'scimtrail_stream_events_delivered_total{{stream="{stream_id}",type="webhook"}} 5.0' in text
    assert "scimtrail_audit_outbox_depth 0.0" in text


async def test_a_section_in_the_host_api_answers_the_bare_collection_path(db: Database) -> None:
    section = streams_section(db, secret_key=SECRET_KEY, authorize=_authorize, prefix="/streams")
    host = Starlette(routes=[Mount("/api/v1", app=api_app([section], ApiInfo("host", "A host's API.")))])
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"x-test-role": "admin"}
    ) as client:
        created = await client.post("/api/v1/streams", json=_webhook())
        assert created.status_code == 201
        assert [s["id"] for s in (await client.get("/api/v1/streams")).json()["streams"]] == [created.json()["id"]]
        assert (await client.get(f"/api/v1/streams/{created.json()['id']}")).status_code == 200


def test_endpoints_describe_themselves_for_the_openapi_document(db: Database) -> None:
    section = streams_section(db, secret_key=SECRET_KEY, authorize=_authorize, prefix="/streams")
    paths = openapi_document([section], ApiInfo("host", "A host's API."))["paths"]
    assert set(paths["/streams"]) == {"get", "post"}
    assert set(paths["/streams/{stream_id}"]) == {"get", "patch", "delete"}
    create = paths["/streams"]["post"]
    assert {"201", "400", "401", "403", "409", "413", "415"} <= set(create["responses"]) and create["tags"] == [
        "log streams"
    ]
    assert paths["/streams/{stream_id}/replay"]["post"]["parameters"][0]["name"] == "stream_id"
    assert {"/streams/{stream_id}/test", "/streams/{stream_id}/dead-letters", "/streams/{stream_id}/pause"} <= set(
        paths
    )


async def test_dead_letters_list_what_was_refused_and_why(api: httpx.AsyncClient, db: Database) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    receiver.fail_next(Fault(422, body={"error": "unexpected field"}))
    async with Served(receiver.app) as served:
        stream_id = (await api.post("/api/v1/streams/", json=_webhook(f"{served.url}/hook"))).json()["id"]
        await seed(db, 3)
        await stage(db).run_once()
    letters = (await api.get(f"/api/v1/streams/{stream_id}/dead-letters")).json()["dead_letters"]
    assert len(letters) == 1
    letter = letters[0]
    assert (letter["batch_id"], letter["first_sequence"], letter["last_sequence"]) == (f"{stream_id}_1_4", 1, 4)
    assert "422" in letter["reason"] and "unexpected field" in letter["reason"]
    status = (await api.get(f"/api/v1/streams/{stream_id}")).json()
    assert (status["state"], status["status"]["dead_letters"]) == ("failing", 1)
    assert status["status"]["last_error"] == letter["reason"]
    other = {"x-test-role": "admin", "x-test-org": "globex"}
    assert (await api.get(f"/api/v1/streams/{stream_id}/dead-letters", headers=other)).status_code == 404
