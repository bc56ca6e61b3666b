"""OAuth 2.0 client credentials (RFC 6749 §4.4) against a live server: tokens, errors, rotation, revocation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from scim_server.app import create_app
from scim_server.services.credentials import Credentials
from scim_server.services.organizations import create_organization
from scim_server.settings import Settings
from scim_server.storage.engine import Database, create_engine
from scim_server.storage.migrations import upgrade
from tests.support.credentials import api_client, events
from tests.support.server import LiveServer

USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@acme.example"}


class Live:
    def __init__(self, server: LiveServer, admin_key: str) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.origin, timeout=10)
        self.admin = {"Authorization": f"Bearer {admin_key}"}

    async def new_client(self, label: str) -> dict[str, Any]:
        created = await self.http.post("/api/v1/oauth-clients", json={"label": label}, headers=self.admin)
        assert created.status_code == 201, created.text
        return created.json()  # type: ignore[no-any-return]

    async def token(self, client_id: str, secret: str, *, basic: bool = True, **form: str) -> httpx.Response:
        data = {"grant_type": "client_credentials", **form}
        if basic:
            return await self.http.post("/oauth/token", data=data, auth=(client_id, secret))
        return await self.http.post("/oauth/token", data={**data, "client_id": client_id, "client_secret": secret})

    async def scim(self, access_token: str, method: str = "GET", path: str = "/Users", **kw: Any) -> httpx.Response:
        return await self.http.request(
            method, f"/scim/v2{path}", headers={"Authorization": f"Bearer {access_token}"}, **kw
        )


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    db = Database(create_engine(database_url))
    try:
        await upgrade(db.engine)
        await create_organization(db, "acme")
    finally:
        await db.dispose()
    server = LiveServer(database_url)
    # The first admin is bootstrapped the way an operator would: from the command line.
    key = server.admin_key("acme", "ops@acme.example")
    with server:
        live = Live(server, key)
        try:
            yield live
        finally:
            await live.http.aclose()


async def test_token_by_basic_and_by_form_reaches_scim(live: Live, database_url: str) -> None:
    client = await live.new_client("entra-prod")
    assert set(client) >= {"id", "client_id", "client_secret", "label"} and client["state"] == "active"

    for basic in (True, False):
        answer = await live.token(client["client_id"], client["client_secret"], basic=basic)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "scim"
        assert answer.headers["cache-control"] == "no-store"
        assert body["access_token"].startswith("sat_")
        assert (await live.scim(body["access_token"])).status_code == 200

    created = await live.scim(body["access_token"], "POST", "/Users", json=USER)
    assert created.status_code == 201, created.text
    # The secret is shown once: never in a listing.
    listing = await live.http.get("/api/v1/oauth-clients", headers=live.admin)
    assert client["client_secret"] not in listing.text and "client_secret" not in listing.text

    db = Database(create_engine(database_url))
    try:
        issued = await events(db, "acme", "oauth_token.issued")
        provisioned = await events(db, "acme", "user.provisioned")
    finally:
        await db.dispose()
    assert len(issued) == 2
    assert issued[0]["actor"] == {"type": "oauth_client", "name": "entra-prod"}
    assert issued[0]["metadata"]["scope"] == "scim"
    assert all(client["client_secret"] not in str(e) and "sat_" not in str(e) for e in issued)
    assert provisioned[0]["actor"] == {"type": "oauth_client", "name": "entra-prod"}


async def test_rfc6749_error_responses(live: Live) -> None:
    client = await live.new_client("okta")
    cid, secret = client["client_id"], client["client_secret"]

    wrong = await live.token(cid, "not-the-secret")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic ")
    unknown = await live.token("scimtrail-000000000000", secret)
    assert unknown.status_code == 401 and unknown.json() == wrong.json()
    by_form = await live.token(cid, "not-the-secret", basic=False)
    assert by_form.json()["error"] == "invalid_client"
    no_auth = await live.http.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert no_auth.json()["error"] == "invalid_client"

    grant = await live.token(cid, secret, grant_type="password")
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    scope = await live.token(cid, secret, scope="admin")
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    missing = await live.http.post("/oauth/token", data={}, auth=(cid, secret))
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    as_json = await live.http.post("/oauth/token", json={"grant_type": "client_credentials"}, auth=(cid, secret))
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    twice = await live.http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=(cid, secret),
    )
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"
    both = await live.http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_secret": secret}, auth=(cid, secret)
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    assert (await live.token(cid, secret, scope="scim")).status_code == 200


async def test_secret_rotation_keeps_issued_tokens_and_refuses_the_old_secret(live: Live) -> None:
    client = await live.new_client("azure")
    before = (await live.token(client["client_id"], client["client_secret"])).json()["access_token"]

    rotated = await live.http.post(f"/api/v1/oauth-clients/{client['id']}/rotate-secret", headers=live.admin)
    assert rotated.status_code == 200
    new_secret = rotated.json()["client_secret"]
    assert new_secret != client["client_secret"] and rotated.json()["secret_rotated_at"]

    assert (await live.token(client["client_id"], client["client_secret"])).status_code == 401
    after = await live.token(client["client_id"], new_secret)
    assert after.status_code == 200
    assert (await live.scim(before)).status_code == 200
    assert (await live.scim(after.json()["access_token"])).status_code == 200


async def test_revoking_a_client_stops_its_access_tokens_at_once(live: Live) -> None:
    client = await live.new_client("onelogin")
    other = await live.new_client("keeper")
    token = (await live.token(client["client_id"], client["client_secret"])).json()["access_token"]
    kept = (await live.token(other["client_id"], other["client_secret"])).json()["access_token"]
    assert (await live.scim(token)).status_code == 200

    revoked = await live.http.delete(f"/api/v1/oauth-clients/{client['id']}", headers=live.admin)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"

    refused = await live.scim(token)
    assert refused.status_code == 401
    assert refused.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert (await live.token(client["client_id"], client["client_secret"])).status_code == 401
    assert (await live.scim(kept)).status_code == 200
    # A revoked client cannot be brought back by rotating its secret.
    again = await live.http.post(f"/api/v1/oauth-clients/{client['id']}/rotate-secret", headers=live.admin)
    assert again.status_code == 409


async def test_access_tokens_expire(database_url: str) -> None:
    app = create_app(Settings.from_env({}, database_url=database_url, relay="off", oauth_token_ttl_seconds=1))
    async with app.router.lifespan_context(app):
        await create_organization(app.state.db, "acme")
        svc = Credentials(app.state.db)
        client = await svc.create_client(await svc.operator("acme"), "short-lived")
        async with api_client(app, None) as http:
            answer = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client.client_id, client.client_secret or ""),
            )
            assert answer.json()["expires_in"] == 1
            bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            assert (await http.get("/scim/v2/Users", headers=bearer)).status_code == 200
            await asyncio.sleep(1.2)
            assert (await http.get("/scim/v2/Users", headers=bearer)).status_code == 401


async def test_plain_http_is_refused_unless_a_trusted_proxy_says_https(app_env: Any) -> None:
    app = app_env.app
    await create_organization(app.state.db, "acme")
    svc = Credentials(app.state.db)
    client = await svc.create_client(await svc.operator("acme"), "proxied")
    auth = (client.client_id, client.client_secret or "")
    # httpx's ASGI transport presents the caller as 127.0.0.1, a trusted proxy by default.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scim.example") as http:
        plain = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
        assert plain.status_code == 400 and plain.json()["error"] == "invalid_request"
        assert "HTTPS" in plain.json()["error_description"]
        proxied = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth, headers={"x-forwarded-proto": "https"}
        )
        assert proxied.status_code == 200
