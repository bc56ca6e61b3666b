"""Recorded Okta and Entra provisioning sequences, replayed against a real server on each backend.

Each fixture under ``idp-fixtures/`` runs against ``scimtrail serve`` (a subprocess on a free
127.0.0.1 port) over a fresh database, SQLite and PostgreSQL, with a token from
``scimtrail org create``. The harness itself is tested here too, against a fake transport, so a
replay that cannot fail cannot pass unnoticed.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.replay import (
    FixtureError,
    Replayer,
    ReplayFailure,
    discover_fixtures,
    load_fixture,
    match,
    resolve,
)
from tests.support.server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = ROOT / "idp-fixtures"
QUIRKS_DOC = ROOT / "README.md"
QUIRKS_HEADING = "### IdP quirks"
FIXTURES = discover_fixtures(FIXTURES_DIR)
ORG = "idp-replay"


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(database_url, log_path=tmp_path / "server.log") as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("fixture_path", FIXTURES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURES])
async def test_idp_sequence_replays_cleanly(fixture_path: Path, live_server: LiveServer) -> None:
    fixture = load_fixture(fixture_path)
    token = live_server.create_org(ORG)
    async with httpx.AsyncClient(timeout=60) as client:
        failures = await Replayer(client, live_server.base_url, token).replay(fixture)
    if failures:
        raise ReplayFailure(failures, live_server.log_tail())


@pytest.mark.slow
async def test_entra_provisioning_with_oauth_client_credentials(live_server: LiveServer) -> None:
    """Entra's other authentication method: an access token from our client-credentials endpoint."""
    live_server.create_org(ORG)
    token = live_server.oauth_access_token(ORG, "entra-prod")
    assert not token.startswith("scim_")
    fixture = load_fixture(FIXTURES_DIR / "entra" / "02-provision-user.json")
    async with httpx.AsyncClient(timeout=60) as client:
        failures = await Replayer(client, live_server.base_url, token).replay(fixture)
    if failures:
        raise ReplayFailure(failures, live_server.log_tail())


@pytest.mark.slow
async def test_okta_provisioning_is_audited_as_okta(live_server: LiveServer) -> None:
    """The audit trail names the Okta connection's token and Okta's User-Agent, and nothing private."""
    token = live_server.create_org(ORG, token_label="okta-prod")
    fixture = load_fixture(FIXTURES_DIR / "okta" / "03-assign-user.json")
    async with httpx.AsyncClient(timeout=60) as client:
        failures = await Replayer(client, live_server.base_url, token).replay(fixture)
        if failures:
            raise ReplayFailure(failures, live_server.log_tail())
        key = live_server.admin_key(ORG, "auditor@acme.example", role="auditor")
        events: list[dict[str, Any]] = []
        for _ in range(100):  # the relay seals within a fraction of a second
            answer = await client.get(
                f"{live_server.origin}/api/v1/audit/events",
                params={"action": "user.provisioned"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert answer.status_code == 200, answer.text
            events = answer.json()["data"]
            if len(events) >= 2:
                break
            await asyncio.sleep(0.1)

    # Two users created; the refused duplicates left no trace as provisioning.
    assert sorted(e["targets"][0]["name"] for e in events) == ["test.user@okta.local", "zoë.müller@okta.local"]
    for event in events:
        assert event["actor"] == {"type": "scim_token", "name": "okta-prod"}
        assert event["context"]["user_agent"] == "Okta SCIM Client 1.0.0"
        text = json.dumps(event, ensure_ascii=False)
        assert "00ujl29u0le5T6Aj10h7" not in text and "00ujl29u0le5T6Aj10h8" not in text  # externalIds
        assert "1mz050nq" not in text  # the password Okta sent


# --------------------------------------------------------------------------- the fixtures themselves


def test_both_idps_have_fixtures() -> None:
    assert {p.parent.name for p in FIXTURES} == {"okta", "entra"}


@pytest.mark.parametrize("fixture_path", FIXTURES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURES])
def test_fixture_is_well_formed(fixture_path: Path) -> None:
    fixture = load_fixture(fixture_path)
    assert fixture.steps, "a fixture without steps proves nothing"
    assert all(source["url"].startswith("https://") for source in fixture.sources)


def _quirk_rows() -> list[tuple[str, str]]:
    """(quirk, fixture reference) for every row of the README's quirk table."""
    rows: list[tuple[str, str]] = []
    text = QUIRKS_DOC.read_text(encoding="utf-8")
    section = text[text.index(QUIRKS_HEADING) :]
    following = re.search(r"\n#{1,3} ", section[len(QUIRKS_HEADING) :])
    if following:
        section = section[: len(QUIRKS_HEADING) + following.start()]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not line.lstrip().startswith("|") or set(cells[0]) <= {"-", ":", " "}:
            continue
        if cells[0].lower() == "idp":
            continue
        rows.append((f"{cells[0]}: {cells[1]}", cells[-1]))
    return rows


def test_quirk_table_is_not_empty() -> None:
    assert len(_quirk_rows()) >= 15


@pytest.mark.parametrize("quirk,reference", _quirk_rows(), ids=lambda v: v[:60] if isinstance(v, str) else "")
def test_every_quirk_names_a_fixture_step(quirk: str, reference: str) -> None:
    refs = re.findall(r"`([a-z]+/[0-9a-z-]+)#([a-z0-9-]+)`", reference)
    assert refs, f"quirk {quirk!r} names no fixture step (expected `idp/file#step`), got {reference!r}"
    for file_ref, step in refs:
        path = FIXTURES_DIR / f"{file_ref}.json"
        assert path.exists(), f"quirk {quirk!r}: no fixture {path}"
        assert step in load_fixture(path).step_names(), f"quirk {quirk!r}: {file_ref} has no step {step!r}"


# --------------------------------------------------------------------------- the harness, against a fake


def test_resolve_follows_scim_paths() -> None:
    user = {
        "name": {"givenName": "Ada"},
        "emails": [{"type": "home", "value": "a@home"}, {"type": "work", "value": "a@work"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1"}},
        "Resources": [{"id": "1"}, {"id": "2"}],
    }
    assert resolve(user, "name.givenName") == "Ada"
    assert resolve(user, 'emails[type eq "work"].value') == "a@work"
    assert resolve(user, "emails[1].type") == "work"
    assert resolve(user, "Resources[*].id") == ["1", "2"]
    assert resolve(user, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value") == "m1"
    assert resolve(user, 'emails[type eq "other"].value') is resolve(user, "nickName")


@pytest.mark.parametrize(
    "expected,actual,ok",
    [
        ({"$type": "integer"}, 3, True),
        ({"$type": "integer"}, "3", False),
        ({"$type": "integer"}, True, False),
        ({"$len": 0}, [], True),
        ({"$contains": "b"}, ["a", "b"], True),
        ({"$not_contains": "b"}, ["a", "b"], False),
        ({"$ieq": "Ada@Example.com"}, "ada@example.COM", True),
        ({"$in": [200, 204]}, 204, True),
        ({"$in": [200, 204]}, 201, False),
        ({"$absent": True}, None, True),
        ({"$empty": True}, [], True),
        ({"$each": {"$absent": True}}, [None, None], True),
        ({"name": {"givenName": "Ada"}}, {"name": {"givenName": "Ada", "familyName": "L"}}, True),
        ({"$ref": None, "value": "x"}, {"$ref": None, "value": "x"}, True),
        ("False", False, False),
        (1, 1.0, True),
        (True, 1, False),
    ],
)
def test_match(expected: object, actual: object, ok: bool) -> None:
    assert (match(expected, actual) == []) is ok


def _write_fixture(tmp_path: Path, steps: Sequence[Mapping[str, Any]], **extra: Any) -> Path:
    path = tmp_path / "okta" / "x.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "idp": "okta",
        "title": "t",
        "sources": [{"title": "s", "url": "https://example.com"}],
        "headers": {"User-Agent": "Okta SCIM Client 1.0.0", "Content-Type": "application/scim+json"},
        "steps": steps,
        **extra,
    }
    path.write_text(json.dumps(document))
    return path


def test_loader_refuses_typos(tmp_path: Path) -> None:
    step = {
        "name": "a",
        "request": {"method": "GET", "path": "/Users"},
        "expect": {"status": 200, "json": {"x": {"$lenn": 1}}},
    }
    with pytest.raises(FixtureError, match=r"unknown matcher"):
        load_fixture(_write_fixture(tmp_path, [step]))
    step = {"name": "a", "request": {"method": "GET", "path": "/Users?count=1"}, "expect": {"status": 200}}
    with pytest.raises(FixtureError, match=r"no query"):
        load_fixture(_write_fixture(tmp_path, [step]))


async def test_replayer_reports_request_expected_and_got(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(201, json={"id": "u1", "active": "false"})
        return httpx.Response(200, json={"id": "u1", "active": True})

    steps = [
        {
            "name": "create",
            "request": {"method": "POST", "path": "/Users", "body": {"userName": "a"}},
            "expect": {"status": 201, "json": {"active": False}},
            "capture": {"userId": "id"},
        },
        {
            "name": "lookup",
            "request": {"method": "GET", "path": "/Users/${userId}", "query": {"filter": 'userName eq "a@b"'}},
            "expect": {"status": 200, "json": {"active": True}},
        },
        {"name": "uses-unset", "request": {"method": "GET", "path": "/Users/${nope}"}, "expect": {"status": 200}},
    ]
    fixture = load_fixture(_write_fixture(tmp_path, steps))
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
        failures = await Replayer(client, "http://idp.test/scim/v2", "scim_t").replay(fixture)

    assert [f.step for f in failures] == ["create", "uses-unset"]
    text = str(ReplayFailure(failures))
    assert "okta/x › step 1 'create'" in text and "POST http://idp.test/scim/v2/Users" in text
    assert 'active: expected false, got "false"' in text
    assert "${nope}" in text
    # Sent as the IdP sends: its headers, the bearer token, no Content-Type without a body, %20 spaces.
    get = seen[1]
    assert get.headers["user-agent"] == "Okta SCIM Client 1.0.0"
    assert get.headers["authorization"] == "Bearer scim_t"
    assert "content-type" not in get.headers
    assert get.url.raw_path.decode().endswith("/Users/u1?filter=userName%20eq%20%22a%40b%22")
    assert seen[0].headers["content-type"] == "application/scim+json"


async def test_paginate_catches_a_server_that_repeats_resources(tmp_path: Path) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startIndex"])
        # A broken server: ignores startIndex and always returns the first page.
        del start
        ids = [{"id": str(i)} for i in range(2)]
        return httpx.Response(
            200,
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 3,
                "startIndex": 1,
                "itemsPerPage": 2,
                "Resources": ids,
            },
        )

    steps = [{"name": "page", "paginate": {"path": "/Users", "count": 2}, "expect": {"totalResults": 3, "pages": 2}}]
    fixture = load_fixture(_write_fixture(tmp_path, steps))
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
        failures = await Replayer(client, "http://idp.test/scim/v2", "scim_t").replay(fixture)
    assert failures and any("startIndex" in p for p in failures[0].problems)
