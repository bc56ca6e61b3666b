"""Every endpoint × every kind of credential: the expected status, and never another organisation's data.

Each case builds two organisations (acme, globex) with every kind of credential and object, then
calls every admin-API and SCIM endpoint with one credential, in an order where the mutating calls
come last. Refusals must be indistinguishable whatever the reason, and whatever a refused or
foreign credential tried must leave acme's credentials and resources as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from scim_server.services.credentials import Credentials
from scim_server.services.organizations import create_organization
from tests.support.credentials import admin_key, api_client, expire_admin_key, expire_scim_token

CASES = ("none", "wrong_org", "scim_token", "oauth_token", "auditor", "admin", "revoked", "expired")


@dataclass
class World:
    app: Any
    #: Which credential each case presents, on /api/v1 and on /scim/v2.
    api_key: dict[str, str | None] = field(default_factory=dict)
    scim_key: dict[str, str | None] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    #: Strings that only acme's data contains, and only globex's.
    acme_marks: set[str] = field(default_factory=set)
    globex_marks: set[str] = field(default_factory=set)


async def _scim(app: Any, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="https://scim.test/scim/v2",
        headers={"Authorization": f"Bearer {token}"},
    )


async def _build(app: Any) -> World:
    db = app.state.db
    svc = Credentials(db)
    world = World(app)
    acme_token = (await create_organization(db, "acme")).token
    globex_token = (await create_organization(db, "globex")).token
    acme = await svc.operator("acme")
    globex = await svc.operator("globex")

    admin = await admin_key(db, "acme", "boss@acme.example")
    auditor = await admin_key(db, "acme", "reader@acme.example", "auditor")
    revoked_key = await admin_key(db, "acme", "gone@acme.example")
    expired_key = await admin_key(db, "acme", "old@acme.example")
    globex_admin = await admin_key(db, "globex", "boss@globex.example")
    async with api_client(app, admin) as api:
        gone = next(a for a in (await api.get("/api/v1/admins")).json()["admins"] if a["email"] == "gone@acme.example")
        key_id = (await api.get(f"/api/v1/admins/{gone['id']}/keys")).json()["keys"][0]["id"]
        assert (await api.delete(f"/api/v1/admins/{gone['id']}/keys/{key_id}")).status_code == 200
    await expire_admin_key(db, expired_key)

    revoked_token = await svc.create_token(acme, "revoked-idp")
    await svc.revoke_token(acme, revoked_token.id)
    expired_token = await svc.create_token(acme, "expired-idp")
    assert expired_token.token is not None
    await expire_scim_token(db, expired_token.token)

    client = await svc.create_client(acme, "acme-entra")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://auth.test") as http:
        answer = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, client.client_secret or ""),
        )
        assert answer.status_code == 200, answer.text
        access_token = answer.json()["access_token"]

    # The objects the endpoints act on.
    world.ids["token"] = (await svc.create_token(acme, "acme-rotate-me")).id
    world.ids["token2"] = (await svc.create_token(acme, "acme-revoke-me")).id
    world.ids["client"] = client.id
    world.ids["client2"] = (await svc.create_client(acme, "acme-revoke-client")).id
    target = await svc.create_account(acme, "target@acme.example", "auditor")
    assert target.key is not None
    world.ids["account"], world.ids["key"] = target.id, target.key.id
    async with await _scim(app, acme_token) as scim:
        for name, user in (("user", "jane@acme.example"), ("user2", "joe@acme.example")):
            created = await scim.post(
                "/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user}
            )
            assert created.status_code == 201, created.text
            world.ids[name] = created.json()["id"]
    globex_client = await svc.create_client(globex, "globex-okta")
    globex_user_token = (await svc.create_token(globex, "globex-idp")).token
    async with await _scim(app, globex_token) as scim:
        created = await scim.post(
            "/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "kim@globex.example"}
        )
        world.globex_marks |= {created.json()["id"], "kim@globex.example"}

    world.api_key = {
        "none": None,
        "wrong_org": globex_admin,
        "scim_token": acme_token,
        "oauth_token": access_token,
        "auditor": auditor,
        "admin": admin,
        "revoked": revoked_key,
        "expired": expired_key,
    }
    world.scim_key = {
        "none": None,
        "wrong_org": globex_token,
        "scim_token": acme_token,
        "oauth_token": access_token,
        "auditor": auditor,
        "admin": admin,
        "revoked": revoked_token.token,
        "expired": expired_token.token,
    }
    world.acme_marks = {
        *world.ids.values(),
        client.client_id,
        "acme-rotate-me",
        "acme-entra",
        "boss@acme.example",
        "target@acme.example",
        "jane@acme.example",
        "reader@acme.example",
    }
    world.globex_marks |= {
        globex_client.client_id,
        "globex-okta",
        "globex-idp",
        "boss@globex.example",
        str(globex_user_token),
    }
    return world


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    #: Status for the organisation's own admin (or SCIM credential).
    ok: int
    body: dict[str, Any] | None = None

    @property
    def names_an_object(self) -> bool:
        return "{" in self.path

    def url(self, ids: dict[str, str]) -> str:
        return self.path.format(**ids)


API = (
    Call("GET", "/api/v1/organization", 200),
    Call("GET", "/api/v1/tokens", 200),
    Call("POST", "/api/v1/tokens", 201, {"label": "new-idp"}),
    Call("GET", "/api/v1/tokens/{token}", 200),
    Call("POST", "/api/v1/tokens/{token}/rotate", 201, {"grace_seconds": 60}),
    Call("DELETE", "/api/v1/tokens/{token2}", 200),
    Call("GET", "/api/v1/oauth-clients", 200),
    Call("POST", "/api/v1/oauth-clients", 201, {"label": "new-client"}),
    Call("GET", "/api/v1/oauth-clients/{client}", 200),
    Call("POST", "/api/v1/oauth-clients/{client}/rotate-secret", 200),
    Call("DELETE", "/api/v1/oauth-clients/{client2}", 200),
    Call("GET", "/api/v1/admins", 200),
    Call("POST", "/api/v1/admins", 201, {"email": "new@example.org", "role": "auditor"}),
    Call("GET", "/api/v1/admins/{account}", 200),
    Call("GET", "/api/v1/admins/{account}/keys", 200),
    Call("POST", "/api/v1/admins/{account}/keys", 201, {"label": "second"}),
    Call("DELETE", "/api/v1/admins/{account}/keys/{key}", 200),
    Call("DELETE", "/api/v1/admins/{account}", 204),
)
SCIM = (
    Call("GET", "/scim/v2/Users", 200),
    Call("GET", "/scim/v2/Users/{user}", 200),
    Call("GET", "/scim/v2/Groups", 200),
    Call(
        "POST",
        "/scim/v2/Users",
        201,
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "new@example.org"},
    ),
    Call(
        "PATCH",
        "/scim/v2/Users/{user}",
        200,
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
    ),
    Call("DELETE", "/scim/v2/Users/{user2}", 204),
)


def _expected_api(case: str, call: Call) -> int:
    if case == "admin":
        return call.ok
    if case == "wrong_org":
        return 404 if call.names_an_object else call.ok
    return 403 if case == "auditor" else 401


def _expected_scim(case: str, call: Call) -> int:
    if case in ("scim_token", "oauth_token"):
        return call.ok
    if case == "wrong_org":
        return 404 if call.names_an_object else call.ok
    return 401


async def _call(app: Any, key: str | None, call: Call, ids: dict[str, str]) -> httpx.Response:
    async with api_client(app, key) as http:
        return await http.request(call.method, call.url(ids), json=call.body)


def _foreign_marks(world: World, case: str) -> set[str]:
    return world.acme_marks if case == "wrong_org" else world.globex_marks


@pytest.mark.parametrize("case", CASES)
async def test_access_matrix(app_env: Callable[..., Any], case: str) -> None:
    world = await _build(app_env.app)  # type: ignore[attr-defined]
    app = world.app
    unknown_api = await _call(app, "sk_000000000000_" + "x" * 43, API[0], world.ids)
    unknown_scim = await _call(app, "scim_000000000000_" + "x" * 43, SCIM[0], world.ids)
    failures: list[str] = []
    for calls, keys, expected, unknown in (
        (API, world.api_key, _expected_api, unknown_api),
        (SCIM, world.scim_key, _expected_scim, unknown_scim),
    ):
        for call in calls:
            response = await _call(app, keys[case], call, world.ids)
            want = expected(case, call)
            if response.status_code != want:
                got = f"{response.status_code} (want {want}) {response.text[:200]}"
                failures.append(f"{call.method} {call.path}: {got}")
            # An id the caller sent may be echoed back ("… not found"); nothing else of theirs may appear.
            sent = call.url(world.ids)
            leaked = [m for m in _foreign_marks(world, case) if m in response.text and m not in sent]
            if leaked:
                failures.append(f"{call.method} {call.path}: shows another organisation's {leaked}")
            if response.status_code == 401:
                # Missing, unknown, revoked, expired, wrong kind: one answer, byte for byte.
                if response.content != unknown.content or "www-authenticate" not in response.headers:
                    failures.append(f"{call.method} {call.path}: 401 differs from an unknown credential's")
            elif response.status_code == 403:
                assert response.json()["error"] == "forbidden"
    assert not failures, "\n".join(failures)

    # A bearer credential is no client authentication at the token endpoint.
    async with api_client(app, world.api_key[case]) as http:
        exchange = await http.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert exchange.status_code == 401 and exchange.json()["error"] == "invalid_client"

    # The public document is public, whoever asks.
    document = await _call(app, world.api_key[case], Call("GET", "/api/v1/openapi.json", 200), world.ids)
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.1")

    if case != "admin":
        await _assert_acme_credentials_untouched(world)
    if case not in ("scim_token", "oauth_token"):
        await _assert_acme_users_untouched(world)


async def _assert_acme_credentials_untouched(world: World) -> None:
    svc = Credentials(world.app.state.db)
    acme = await svc.operator("acme")
    assert (await svc.get_token(acme, world.ids["token2"])).state == "active"
    assert (await svc.get_token(acme, world.ids["token"])).expires_at is None
    assert (await svc.get_client(acme, world.ids["client2"])).state == "active"
    assert (await svc.get_client(acme, world.ids["client"])).secret_rotated_at is None
    assert [k.state for k in await svc.list_keys(acme, world.ids["account"])] == ["active"]


async def _assert_acme_users_untouched(world: World) -> None:
    async with await _scim(world.app, str(world.scim_key["scim_token"])) as scim:
        assert (await scim.get(f"/Users/{world.ids['user2']}")).status_code == 200
        assert (await scim.get(f"/Users/{world.ids['user']}")).json().get("active", True) is True


def test_every_admin_route_is_in_the_matrix() -> None:
    from scim_server.api.admin._operations import OPERATIONS

    assert {(op.method, op.path) for op in OPERATIONS} == {
        (
            c.method,
            c.path.removeprefix("/api/v1")
            .replace("{token2}", "{id}")
            .replace("{client2}", "{id}")
            .replace("{token}", "{id}")
            .replace("{client}", "{id}")
            .replace("{account}", "{id}")
            .replace("{key}", "{key_id}"),
        )
        for c in API
    }
