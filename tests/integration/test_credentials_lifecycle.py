"""SCIM tokens and admin accounts through the admin API: show once, list, revoke, rotate, expire, audit."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
from starlette.requests import Request

from scim_server.api.admin import Guard
from scim_server.auth import AuthenticationFailed, Authenticator, RateLimiter
from scim_server.services.organizations import create_organization
from tests.support.credentials import admin_key, api_client, events, expire_scim_token


class Env:
    def __init__(self, app: Any, api: httpx.AsyncClient, key: str) -> None:
        self.app = app
        self.db = app.state.db
        self.api = api
        self.key = key

    def scim(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="https://scim.test/scim/v2",
            headers={"Authorization": f"Bearer {token}"},
        )

    async def settle(self) -> None:
        """Let fire-and-forget writes (last_used_at, expiry events, rejection tallies) land."""
        await self.app.state.authenticator.aclose()


@pytest.fixture
async def env(app_env: Callable[..., Any]) -> AsyncIterator[Env]:
    app = app_env.app  # type: ignore[attr-defined]
    await create_organization(app.state.db, "acme")
    key = await admin_key(app.state.db, "acme", "ops@acme.example")
    async with api_client(app, key) as api:
        yield Env(app, api, key)


async def test_token_is_shown_once_and_listed_without_secrets(env: Env) -> None:
    created = await env.api.post("/api/v1/tokens", json={"label": "okta-prod", "expires_at": "2099-01-01T00:00:00Z"})
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith(f"scim_{token['prefix']}_")
    assert token["state"] == "active" and token["expires_at"] == "2099-01-01T00:00:00Z"

    listing = await env.api.get("/api/v1/tokens")
    assert [t["label"] for t in listing.json()["tokens"]] == ["default", "okta-prod"]
    one = await env.api.get(f"/api/v1/tokens/{token['id']}")
    for answer in (listing, one):
        assert token["token"] not in answer.text and '"token"' not in answer.text and "hash" not in answer.text
    assert set(one.json()) == {
        "id",
        "label",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "state",
    }
    async with env.scim(token["token"]) as scim:
        assert (await scim.get("/Users")).status_code == 200
    [event] = [e for e in await events(env.db, "acme", "scim_token.created") if e["targets"][0]["name"] == "okta-prod"]
    assert event["actor"] == {"type": "admin", "name": "ops@acme.example"}
    assert token["token"] not in str(event)


async def test_revocation_holds_from_the_next_request(env: Env) -> None:
    token = (await env.api.post("/api/v1/tokens", json={"label": "okta"})).json()
    async with env.scim(token["token"]) as scim:
        assert (await scim.get("/Users")).status_code == 200  # now cached as verified
        revoked = await env.api.delete(f"/api/v1/tokens/{token['id']}")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        assert (await scim.get("/Users")).status_code == 401
    again = await env.api.delete(f"/api/v1/tokens/{token['id']}")
    assert again.status_code == 200
    assert len(await events(env.db, "acme", "scim_token.revoked")) == 1


async def test_rotation_keeps_the_old_token_until_the_chosen_time(env: Env) -> None:
    old = (await env.api.post("/api/v1/tokens", json={"label": "entra"})).json()
    until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    rotated = await env.api.post(f"/api/v1/tokens/{old['id']}/rotate", json={"expires_old_at": until})
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["label"] == "entra" and new["token"] != old["token"] and new["id"] != old["id"]
    async with env.scim(old["token"]) as before, env.scim(new["token"]) as after:
        assert (await before.get("/Users")).status_code == 200
        assert (await after.get("/Users")).status_code == 200
        await asyncio.sleep(1.1)
        assert (await before.get("/Users")).status_code == 401
        assert (await before.get("/Users")).status_code == 401
        assert (await after.get("/Users")).status_code == 200
    assert (await env.api.get(f"/api/v1/tokens/{old['id']}")).json()["state"] == "expired"

    await env.settle()
    [expired] = await events(env.db, "acme", "scim_token.expired")
    assert expired["targets"] == [{"type": "scim_token", "name": "entra"}]
    created = [e for e in await events(env.db, "acme", "scim_token.created") if e["metadata"].get("replaces")]
    assert created[0]["metadata"]["replaces"] == old["prefix"]


async def test_rotation_input_and_state_errors(env: Env) -> None:
    token = (await env.api.post("/api/v1/tokens", json={"label": "okta"})).json()
    url = f"/api/v1/tokens/{token['id']}/rotate"
    both = await env.api.post(url, json={"grace_seconds": 5, "expires_old_at": "2099-01-01T00:00:00Z"})
    assert both.status_code == 422 and both.json()["error"] == "invalid_value"
    assert (await env.api.post(url, json={"grace_seconds": -1})).status_code == 422
    assert (await env.api.post(url, json={"expires_old_at": "2001-01-01T00:00:00Z"})).status_code == 422
    grace = await env.api.post(url, json={"grace_seconds": 3600})
    assert grace.status_code == 201
    old = (await env.api.get(f"/api/v1/tokens/{token['id']}")).json()
    assert old["state"] == "active" and old["expires_at"] is not None
    await env.api.delete(f"/api/v1/tokens/{token['id']}")
    assert (await env.api.post(url, json={})).status_code == 409
    assert (await env.api.post("/api/v1/tokens/not-a-token/rotate", json={})).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_request"),
        (b"{}", 422, "invalid_value"),
        (b'{"label": "Okta Prod"}', 422, "invalid_value"),
        (b'{"label": "okta", "scopes": ["all"]}', 400, "unknown_field"),
        (b'{"label": 7}', 422, "invalid_value"),
        (b'{"label": "okta", "expires_at": "tomorrow"}', 422, "invalid_value"),
        (b'{"label": "okta", "expires_at": "2099-01-01T00:00:00"}', 422, "invalid_value"),
        (b'{"label": "okta", "expires_at": "2001-01-01T00:00:00Z"}', 422, "invalid_value"),
    ],
)
async def test_bad_input_gets_a_clear_json_error(env: Env, body: bytes, status: int, error: str) -> None:
    answer = await env.api.post("/api/v1/tokens", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert answer.json()["error"] == error and answer.json()["message"]


async def test_last_used_at_is_written_at_most_once_a_minute(env: Env) -> None:
    token = (await env.api.post("/api/v1/tokens", json={"label": "okta"})).json()
    assert token["last_used_at"] is None
    async with env.scim(token["token"]) as scim:
        await scim.get("/Users")
        await env.settle()
        first = (await env.api.get(f"/api/v1/tokens/{token['id']}")).json()["last_used_at"]
        assert first is not None
        for _ in range(3):
            await scim.get("/Users")
        await env.settle()
    assert (await env.api.get(f"/api/v1/tokens/{token['id']}")).json()["last_used_at"] == first


async def test_expired_token_is_refused_like_an_unknown_one_and_audited_once(env: Env) -> None:
    token = (await env.api.post("/api/v1/tokens", json={"label": "old-idp"})).json()
    await expire_scim_token(env.db, token["token"])
    async with env.scim(token["token"]) as expired, env.scim("scim_0123456789ab_" + "x" * 43) as unknown:
        refusals = [await expired.get("/Users") for _ in range(3)]
        baseline = await unknown.get("/Users")
    assert all(r.status_code == 401 and r.content == baseline.content for r in refusals)
    await env.settle()
    assert len(await events(env.db, "acme", "scim_token.expired")) == 1


async def test_rejections_are_aggregated_per_prefix_reason_and_ip(env: Env) -> None:
    token = (await env.api.post("/api/v1/tokens", json={"label": "okta"})).json()
    guessed = f"scim_{token['prefix']}_{'A' * 43}"
    async with env.scim(guessed) as guess:
        for _ in range(5):
            assert (await guess.get("/Users")).status_code == 401
    async with env.scim("scim_ffffffffffff_" + "x" * 43) as nobody:
        assert (await nobody.get("/Users")).status_code == 401  # no organisation to tell
    await env.settle()
    [rejected] = await events(env.db, "acme", "credential.rejected")
    assert rejected["metadata"]["count"] == 5
    assert rejected["metadata"]["reason"] == "invalid_secret"
    assert rejected["metadata"]["prefix"] == token["prefix"]
    assert rejected["targets"] == [{"type": "scim_token", "name": "okta"}]
    assert "A" * 43 not in str(rejected)


async def test_rejection_window_closes_on_its_own(env: Env) -> None:
    authenticator = Authenticator(env.db, rejection_window=0.2)
    token = (await env.api.post("/api/v1/tokens", json={"label": "okta"})).json()
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            await authenticator.authenticate(f"Bearer {token['token']}x", "scim", ip="203.0.113.7")
    await asyncio.sleep(0.6)
    [rejected] = await events(env.db, "acme", "credential.rejected")
    assert rejected["metadata"]["count"] == 3 and rejected["context"]["ip"] == "203.0.113.7"
    await authenticator.aclose()


async def test_accounts_keys_and_the_last_admin(env: Env) -> None:
    created = await env.api.post("/api/v1/admins", json={"email": "Reader@Acme.example", "role": "auditor"})
    assert created.status_code == 201
    reader = created.json()
    assert reader["key"]["key"].startswith("sk_") and reader["role"] == "auditor"
    duplicate = await env.api.post("/api/v1/admins", json={"email": "reader@acme.EXAMPLE", "role": "admin"})
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "conflict"
    bad = await env.api.post("/api/v1/admins", json={"email": "not-an-email", "role": "auditor"})
    assert bad.status_code == 422
    role = await env.api.post("/api/v1/admins", json={"email": "x@acme.example", "role": "owner"})
    assert role.status_code == 422

    async with api_client(env.app, reader["key"]["key"]) as as_reader:
        assert (await as_reader.get("/api/v1/tokens")).status_code == 403

    second = (await env.api.post(f"/api/v1/admins/{reader['id']}/keys", json={"label": "laptop"})).json()
    keys = (await env.api.get(f"/api/v1/admins/{reader['id']}/keys")).json()["keys"]
    assert [k["label"] for k in keys] == ["default", "laptop"] and all("key" not in k for k in keys)
    revoked = await env.api.delete(f"/api/v1/admins/{reader['id']}/keys/{second['id']}")
    assert revoked.json()["state"] == "revoked"
    async with api_client(env.app, second["key"]) as gone:
        assert (await gone.get("/api/v1/tokens")).status_code == 401

    me = next(a for a in (await env.api.get("/api/v1/admins")).json()["admins"] if a["role"] == "admin")
    last = await env.api.delete(f"/api/v1/admins/{me['id']}")
    assert last.status_code == 409
    assert (await env.api.delete(f"/api/v1/admins/{reader['id']}")).status_code == 204
    assert (await env.api.get(f"/api/v1/admins/{reader['id']}")).status_code == 404
    async with api_client(env.app, reader["key"]["key"]) as removed:
        assert (await removed.get("/api/v1/organization")).status_code == 401
    actions = [e["action"] for e in await events(env.db, "acme") if e["category"] == "administration"]
    assert actions.count("admin_key.created") == 3 and actions.count("admin_key.revoked") == 2


async def test_audit_authorize_callback_gives_role_and_org(env: Env) -> None:
    reader = (await env.api.post("/api/v1/admins", json={"email": "r@acme.example", "role": "auditor"})).json()
    guard = Guard(env.app.state.authenticator, RateLimiter(0, 0))

    def request(key: str | None) -> Request:
        headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
        return Request(
            {
                "type": "http",
                "method": "GET",
                "path": "/api/v1/audit/events",
                "headers": headers,
                "client": ("198.51.100.4", 5000),
                "query_string": b"",
            }
        )

    auditor = await guard.authorize(request(reader["key"]["key"]))
    assert auditor is not None and auditor.role == "auditor" and auditor.organization == "acme"
    assert auditor.actor.name == "r@acme.example" and auditor.context.ip == "198.51.100.4"
    admin = await guard.authorize(request(env.key))
    assert admin is not None and admin.role == "admin"
    token = (await env.api.post("/api/v1/tokens", json={"label": "okta"})).json()["token"]
    assert await guard.authorize(request(token)) is None
    assert await guard.authorize(request(None)) is None


async def test_no_secret_reaches_the_logs(env: Env) -> None:
    with structlog.testing.capture_logs() as logs:
        token = (await env.api.post("/api/v1/tokens", json={"label": "okta"})).json()["token"]
        client = (await env.api.post("/api/v1/oauth-clients", json={"label": "entra"})).json()
        answer = await env.api.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
        )
        async with env.scim(answer.json()["access_token"]) as scim:
            await scim.get("/Users")
        async with env.scim(token + "x") as scim:
            await scim.get("/Users")
    secrets = [env.key, token, client["client_secret"], answer.json()["access_token"]]
    text = str(logs)
    # The secret part of `kind_<12 hex prefix>_<secret>`, which may itself contain underscores.
    secret_parts = [re.sub(r"^[a-z]+_[0-9a-f]{12}_", "", s) for s in secrets]
    assert all(len(p) >= 20 for p in secret_parts), secret_parts
    assert logs and not [s for s in secrets + secret_parts if s in text]
