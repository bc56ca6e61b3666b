"""The audit query API: filters, paging, search, exports, retention, access and isolation."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.requests import Request

from audit import Actor, Caller, EventDraft, Relay, RequestContext, Target, create_audit_app, record_many
from tests.integration.audit.conftest import provisioned
from tests.integration.audit.reference_host import ReferenceHost

_NOW = datetime.now(UTC)
_OKTA = Actor("scim_token", "okta-prod")
_ENTRA = Actor("oauth_client", "entra")


async def _authorize(request: Request) -> Caller | None:
    """Stands in for the host's API-key check: ``X-Caller: org/role``."""
    header = request.headers.get("x-caller")
    if not header:
        return None
    org, role = header.split("/")
    return Caller(organization=org, actor=Actor(role, f"{role}@{org}.example"), role=role)  # type: ignore[arg-type]


def _event(
    action: str, actor: Actor, target: str, *, days_ago: float = 0, org: str = "acme", **metadata: object
) -> EventDraft:
    kind = "group" if action.startswith("group.") else "user"
    return EventDraft(
        organization=org,
        action=action,
        actor=actor,
        targets=(Target(kind, target),),
        context=RequestContext(ip="203.0.113.7", user_agent="Okta SCIM Client", request_id="req_1"),
        metadata=metadata,
        occurred_at=_NOW - timedelta(days=days_ago),
    )


@pytest.fixture
async def client(db: ReferenceHost) -> AsyncIterator[httpx.AsyncClient]:
    drafts = [
        _event("user.provisioned", _OKTA, "jane@acme.example", days_ago=40),  # 1
        _event("user.updated", _OKTA, "jane@acme.example", days_ago=20, changed=["name.givenName", "title"]),  # 2
        _event("group.created", _ENTRA, "Engineering", days_ago=10),  # 3
        _event("group.member_added", _ENTRA, "Engineering", days_ago=5),  # 4
        _event("user.deprovisioned", _OKTA, "john@acme.example", days_ago=1),  # 5
        _event("scim_token.created", Actor("admin", "ops@acme.example"), "okta-prod", days_ago=0.5),  # 6
        _event("user.provisioned", _OKTA, "secret@globex.example", org="globex"),
    ]
    async with db.write() as conn:
        await record_many(conn, drafts)
    await Relay(db, holder="test").drain()
    app = create_audit_app(db, _authorize)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"x-caller": "acme/auditor"}
    ) as c:
        yield c


async def _sequences(client: httpx.AsyncClient, **params: object) -> list[int]:
    response = await client.get("/events", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return [e["sequence"] for e in response.json()["data"]]


async def test_newest_first_with_canonical_events(client: httpx.AsyncClient) -> None:
    body = (await client.get("/events")).json()
    assert [e["sequence"] for e in body["data"]] == [6, 5, 4, 3, 2, 1]
    assert body["next_cursor"] is None
    first = body["data"][-1]
    assert set(first) == {
        "id",
        "version",
        "organization",
        "sequence",
        "action",
        "category",
        "occurred_at",
        "actor",
        "targets",
        "context",
        "metadata",
        "prev_hash",
        "hash",
    }
    assert first["actor"] == {"type": "scim_token", "name": "okta-prod"}


async def test_filters(client: httpx.AsyncClient) -> None:
    assert await _sequences(client, category="scim_credentials") == [6]
    assert await _sequences(client, category=["scim_credentials", "administration"]) == [6]
    assert await _sequences(client, action=["user.provisioned", "user.deprovisioned"]) == [5, 1]
    assert await _sequences(client, actor="entra") == [4, 3]
    assert await _sequences(client, target="jane@acme.example") == [2, 1]
    assert await _sequences(client, range="7d") == [6, 5, 4]
    assert await _sequences(client, range="30d", category="scim_provisioning", actor="okta-prod") == [5, 2]
    since = (_NOW - timedelta(days=25)).isoformat()
    until = (_NOW - timedelta(days=3)).isoformat()
    assert await _sequences(client, since=since, until=until) == [4, 3, 2]
    assert await _sequences(client, range="today", category="scim_credentials") == (
        [6] if (_NOW - timedelta(days=0.5)).date() == _NOW.date() else []
    )


async def test_free_text_search(client: httpx.AsyncClient) -> None:
    assert await _sequences(client, q="jane@acme.example") == [2, 1]
    assert await _sequences(client, q="jan") == []  # whole words …
    assert await _sequences(client, q="jan*") == [2, 1]  # … unless asked for a prefix
    assert await _sequences(client, q="jane@acme.exam*") == [2, 1]
    assert await _sequences(client, q="ENGINEERING member") == [4]
    assert await _sequences(client, q="givenName") == [2]  # metadata
    assert await _sequences(client, q="deprovisioned") == [5]  # action
    assert await _sequences(client, q="credentials") == [6]  # category
    assert await _sequences(client, q="okta", category="scim_credentials") == [6]
    assert await _sequences(client, q="globex") == []  # another organisation's words
    assert await _sequences(client, q="nothing-like-this") == []


async def test_cursor_pages_without_gaps_or_repeats(client: httpx.AsyncClient) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 4} if cursor is None else {"limit": 4, "cursor": cursor}
        body = (await client.get("/events", params=params)).json()
        seen += [e["sequence"] for e in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1]
    page = (await client.get("/events", params={"limit": 1, "q": "jane"})).json()
    assert [e["sequence"] for e in page["data"]] == [2]
    rest = (await client.get("/events", params={"limit": 1, "q": "jane", "cursor": page["next_cursor"]})).json()
    assert [e["sequence"] for e in rest["data"]] == [1] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "invalid_request"),
        ({"limit": 1001}, "invalid_request"),
        ({"limit": "ten"}, "invalid_request"),
        ({"cursor": "bm9wZQ"}, "invalid_cursor"),
        ({"since": "last tuesday"}, "invalid_request"),
        ({"range": "1y"}, "invalid_request"),
        ({"range": "7d", "since": "2026-01-01"}, "invalid_request"),
        ({"category": "gossip"}, "invalid_request"),
        ({"q": "ja*"}, "invalid_request"),
        ({"action": "user.teleported"}, "invalid_request"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "invalid_request"),
        ({"target": "x" * 321}, "invalid_request"),
        ({"actor": "x" * 321}, "invalid_request"),
    ],
)
async def test_bad_queries_are_400_with_a_json_error(
    client: httpx.AsyncClient, params: dict[str, object], code: str
) -> None:
    response = await client.get("/events", params=params)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json()["error"] == code and response.json()["message"]


async def test_one_event_by_id_and_tenant_isolation(client: httpx.AsyncClient) -> None:
    newest = (await client.get("/events", params={"limit": 1})).json()["data"][0]
    assert (await client.get(f"/events/{newest['id']}")).json() == newest
    globex = (await client.get("/events", headers={"x-caller": "globex/admin"})).json()["data"]
    assert [e["targets"][0]["name"] for e in globex] == ["secret@globex.example"]
    foreign = await client.get(f"/events/{globex[0]['id']}")
    assert foreign.status_code == 404 and foreign.json()["error"] == "not_found"
    assert (await client.get("/events/evt_nope")).status_code == 404


async def test_access(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/events", headers={"x-caller": ""})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"
    assert (await client.get("/export", headers={"x-caller": ""})).status_code == 401
    assert (await client.put("/retention", json={"days": 60})).status_code == 403
    assert (await client.get("/retention")).json() == {"organization": "acme", "days": 90, "default": True}
    assert (await client.post("/events")).status_code == 405
    assert (await client.get("/nowhere")).json()["error"] == "not_found"


async def test_retention_is_set_by_admins_and_audited(client: httpx.AsyncClient, db: ReferenceHost) -> None:
    admin = {"x-caller": "acme/admin"}
    for bad, code in (
        ({"days": 10}, "invalid_retention"),
        ({"days": "ninety"}, "invalid_retention"),
        ({"weeks": 3}, "unknown_field"),
        ({"days": 365, "weeks": 3}, "unknown_field"),
        ([90], "invalid_request"),
        ({}, "invalid_request"),
    ):
        response = await client.put("/retention", json=bad, headers=admin)
        assert (response.status_code, response.json()["error"]) == (400, code), bad
    response = await client.put("/retention", content=b"{not json", headers=admin)
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    response = await client.put("/retention", json={"days": 365}, headers=admin)
    assert response.json() == {"organization": "acme", "days": 365, "default": False}
    await Relay(db, holder="test").drain()
    newest = (await client.get("/events", params={"limit": 1})).json()["data"][0]
    assert newest["action"] == "retention_policy.updated"
    assert newest["actor"] == {"type": "admin", "name": "admin@acme.example"}
    assert newest["metadata"] == {"retention_days": 365, "previous_retention_days": 90}


async def test_exports_in_every_format_are_audited(client: httpx.AsyncClient, db: ReferenceHost) -> None:
    ndjson = await client.get("/export", params={"format": "ndjson", "actor": "okta-prod"})
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    assert "attachment" in ndjson.headers["content-disposition"]
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert [e["sequence"] for e in lines] == [1, 2, 5]  # oldest first

    as_json = (await client.get("/export", params={"format": "json", "q": "engineering"})).json()
    assert [e["sequence"] for e in as_json] == [3, 4]

    as_csv = await client.get("/export", params={"format": "csv", "category": "scim_provisioning"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [int(r["sequence"]) for r in rows] == [1, 2, 3, 4, 5]
    assert rows[1]["targets"] == "user:jane@acme.example"
    assert json.loads(rows[1]["metadata"]) == {"changed": ["name.givenName", "title"]}
    assert rows[1]["hash"] == lines[1]["hash"]

    await Relay(db, holder="test").drain()
    exported = (await client.get("/events", params={"action": "audit_log.exported"})).json()["data"]
    assert [e["metadata"]["format"] for e in exported] == ["csv", "json", "ndjson"]
    assert exported[0]["metadata"]["categories"] == ["scim_provisioning"]
    assert exported[2]["actor"] == {"type": "auditor", "name": "auditor@acme.example"}


async def test_an_empty_range_exports_an_empty_file(client: httpx.AsyncClient) -> None:
    params = {"until": "2001-01-01"}
    assert (await client.get("/export", params={**params, "format": "ndjson"})).content == b""
    assert (await client.get("/export", params={**params, "format": "json"})).json() == []
    rows = list(csv.reader(io.StringIO((await client.get("/export", params={**params, "format": "csv"})).text)))
    assert len(rows) == 1 and rows[0][0] == "sequence"
    assert (await client.get("/export", params={"format": "xml"})).status_code == 400


async def test_an_export_with_parameters_it_does_not_know_exports_nothing(
    client: httpx.AsyncClient, db: ReferenceHost
) -> None:
    # A WorkOS-style request: before, these were ignored and the whole log was exported.
    for params in (
        {"range_start": "2026-01-01T00:00:00Z"},
        {"actions[]": "user.provisioned"},
        {"format": "csv", "since": "2026-01-01", "actors": "okta-prod"},
    ):
        response = await client.get("/export", params=params)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "unknown_parameter"
        assert next(iter(params.keys() - {"format", "since"})) in body["message"]
        assert body["details"]["unknown"] == sorted(params.keys() - {"format", "since"})
        assert {"since", "action", "format"} <= set(body["details"]["accepted"])
    await Relay(db, holder="test").drain()
    assert (await client.get("/events", params={"action": "audit_log.exported"})).json()["data"] == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/events", {"sort": "asc"}),
        ("/events", {"page": "2", "limit": "5"}),
        ("/events/evt_x", {"expand": "1"}),
        ("/retention", {"days": "30"}),
    ],
)
async def test_unknown_query_parameters_are_400_everywhere(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params)
    assert (response.status_code, response.json()["error"]) == (400, "unknown_parameter")
    # A caller without a credential learns nothing about what is accepted.
    anonymous = await client.get(path, params=params, headers={"x-caller": ""})
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "unauthorized")


async def test_bodies_must_be_small_json(client: httpx.AsyncClient) -> None:
    admin = {"x-caller": "acme/admin"}
    form = await client.put(
        "/retention", content=b"days=365", headers={**admin, "content-type": "application/x-www-form-urlencoded"}
    )
    assert (form.status_code, form.json()["error"]) == (415, "unsupported_media_type")
    huge = await client.put("/retention", json={"days": 365, "pad": "x" * 100_000}, headers=admin)
    assert (huge.status_code, huge.json()["error"]) == (413, "too_large")
    assert (await client.get("/retention")).json()["days"] == 90


async def test_csv_cells_cannot_smuggle_formulas(db: ReferenceHost) -> None:
    # The User-Agent header is whatever the client sent: a classic CSV-injection carrier.
    draft = replace(
        provisioned("jane@acme.example"), context=RequestContext(user_agent='=HYPERLINK("http://evil", "click")')
    )
    async with db.write() as conn:
        await record_many(conn, [draft])
    await Relay(db, holder="test").drain()
    app = create_audit_app(db, _authorize)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        text = (await c.get("/export", params={"format": "csv"}, headers={"x-caller": "acme/admin"})).text
    row = next(iter(csv.DictReader(io.StringIO(text))))
    assert row["user_agent"] == '\'=HYPERLINK("http://evil", "click")'


async def test_a_time_filter_never_misses_events_sealed_out_of_time_order(db: ReferenceHost) -> None:
    # After a quiet month, two requests overlap: the one that started first commits last, so
    # the later occurrence gets the lower sequence. A since-filter must still find both.
    quiet = _event("user.provisioned", _OKTA, "old@acme.example", days_ago=30)
    later = _event("user.updated", _OKTA, "b@acme.example", days_ago=0.001)
    earlier = _event("user.updated", _OKTA, "a@acme.example", days_ago=0.002)
    async with db.write() as conn:
        await record_many(conn, [quiet, later, earlier])
    await Relay(db, holder="test").drain()
    app = create_audit_app(db, _authorize)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        since = (_NOW - timedelta(hours=1)).isoformat()
        body = (await c.get("/events", params={"since": since}, headers={"x-caller": "acme/auditor"})).json()
    assert [e["targets"][0]["name"] for e in body["data"]] == ["a@acme.example", "b@acme.example"]


async def test_cli_export_iterator_reports_progress(client: httpx.AsyncClient, db: ReferenceHost) -> None:
    from audit import EventFilter, count_events, export_events

    progress: list[int] = []
    f = EventFilter(categories=("scim_provisioning",))
    assert await count_events(db, "acme", f) == 5
    chunks = [
        c
        async for c in export_events(
            db, "acme", "ndjson", f, actor=Actor("system", "cli"), progress=progress.append, batch_size=2
        )
    ]
    assert progress == [2, 4, 5]
    assert [json.loads(line)["sequence"] for line in b"".join(chunks).splitlines()] == [1, 2, 3, 4, 5]
