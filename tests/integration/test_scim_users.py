"""Users over HTTP: the behaviour an IdP or a compliance checker observes (RFC 7644 §3)."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Tenant

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def user_body(user_name: str = "jane@acme.example", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
        ENTERPRISE: {"department": "Finance", "employeeNumber": "1001"},
    }
    body.update(extra)
    return body


async def create(t: Tenant, **kw: object) -> dict[str, object]:
    r = await t.client.post("/Users", json=user_body(**kw))  # type: ignore[arg-type]
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_create_returns_resource_with_meta_location_and_etag(acme: Tenant) -> None:
    r = await acme.client.post("/Users", json=user_body())
    assert r.status_code == 201
    assert r.headers["content-type"].startswith("application/scim+json")
    body = r.json()
    assert body["userName"] == "jane@acme.example"
    assert body[ENTERPRISE]["department"] == "Finance"
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["location"] == f"http://scim.test/scim/v2/Users/{body['id']}"
    assert r.headers["location"] == body["meta"]["location"]
    assert r.headers["etag"] == body["meta"]["version"]
    assert "password" not in body


async def test_password_is_accepted_but_never_returned_or_stored(acme: Tenant) -> None:
    created = await create(acme, password="s3cret-Passw0rd")
    got = (await acme.client.get(f"/Users/{created['id']}")).json()
    assert "password" not in created and "password" not in got


async def test_get_list_and_filter_username_case_insensitively(acme: Tenant) -> None:
    await create(acme, userName="Jane@Acme.example")
    await create(acme, userName="bob@acme.example")
    r = await acme.client.get("/Users", params={"filter": 'userName eq "jane@ACME.EXAMPLE"'})
    assert r.status_code == 200
    body = r.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert body["totalResults"] == 1
    assert body["Resources"][0]["userName"] == "Jane@Acme.example"


async def test_duplicate_username_in_any_case_is_409_uniqueness(acme: Tenant) -> None:
    await create(acme)
    r = await acme.client.post("/Users", json=user_body("JANE@acme.EXAMPLE"))
    assert r.status_code == 409
    assert r.json()["scimType"] == "uniqueness"


async def test_twenty_concurrent_case_variants_give_exactly_one_201(acme: Tenant) -> None:
    base = "race.condition@acme.example"
    variants = ["".join(c.upper() if (i >> k) & 1 else c for k, c in enumerate(base)) for i in range(20)]
    responses = await asyncio.gather(*(acme.client.post("/Users", json=user_body(v)) for v in variants))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 19
    assert all(r.json()["scimType"] == "uniqueness" for r in responses if r.status_code == 409)


async def test_put_replaces_the_whole_resource(acme: Tenant) -> None:
    created = await create(acme)
    body = user_body(name={"givenName": "Janet"}, title="CFO")
    del body[ENTERPRISE]
    r = await acme.client.put(f"/Users/{created['id']}", json=body)
    assert r.status_code == 200
    got = r.json()
    assert got["name"] == {"givenName": "Janet"}
    assert got["title"] == "CFO"
    assert ENTERPRISE not in got
    assert got["meta"]["version"] != created["meta"]["version"]
    assert got["meta"]["created"] == created["meta"]["created"]


async def test_patch_returns_200_with_the_resource(acme: Tenant) -> None:
    created = await create(acme)
    r = await acme.client.patch(
        f"/Users/{created['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False, "name.givenName": "J"}}],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    assert r.json()["name"]["givenName"] == "J"


async def test_deactivated_user_remains_readable_and_filterable(acme: Tenant) -> None:
    created = await create(acme)
    await acme.client.patch(
        f"/Users/{created['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    r = await acme.client.get("/Users", params={"filter": "active eq false"})
    assert [u["id"] for u in r.json()["Resources"]] == [created["id"]]


async def test_delete_then_404(acme: Tenant) -> None:
    created = await create(acme)
    assert (await acme.client.delete(f"/Users/{created['id']}")).status_code == 204
    r = await acme.client.get(f"/Users/{created['id']}")
    assert r.status_code == 404
    assert r.json()["status"] == "404"
    assert (await acme.client.delete(f"/Users/{created['id']}")).status_code == 404


async def test_etags_if_match_and_if_none_match(acme: Tenant) -> None:
    created = await create(acme)
    url = f"/Users/{created['id']}"
    etag = created["meta"]["version"]
    assert (await acme.client.get(url, headers={"If-None-Match": etag})).status_code == 304
    assert (await acme.client.get(url, headers={"If-None-Match": 'W/"999"'})).status_code == 200
    stale = await acme.client.put(url, json=user_body(title="x"), headers={"If-Match": 'W/"999"'})
    assert stale.status_code == 412
    fresh = await acme.client.put(url, json=user_body(title="x"), headers={"If-Match": etag})
    assert fresh.status_code == 200
    assert (await acme.client.delete(url, headers={"If-Match": etag})).status_code == 412


async def test_attributes_and_excluded_attributes(acme: Tenant) -> None:
    created = await create(acme)
    r = await acme.client.get(f"/Users/{created['id']}", params={"attributes": "userName,name.givenName"})
    assert set(r.json()) == {"schemas", "id", "userName", "name"}
    assert r.json()["name"] == {"givenName": "Jane"}
    r = await acme.client.get(
        f"/Users/{created['id']}", params={"excludedAttributes": f"emails,{ENTERPRISE}:department"}
    )
    body = r.json()
    assert (
        "emails" not in body and "department" not in body[ENTERPRISE] and body[ENTERPRISE]["employeeNumber"] == "1001"
    )
    assert "id" in body


async def test_index_paging_sorting_and_count_cap(acme: Tenant) -> None:
    for i in range(7):
        await create(acme, userName=f"user{i}@acme.example", title=f"t{6 - i}")
    page = (await acme.client.get("/Users", params={"startIndex": 3, "count": 2})).json()
    assert page["totalResults"] == 7 and page["startIndex"] == 3 and page["itemsPerPage"] == 2
    assert [u["userName"] for u in page["Resources"]] == ["user2@acme.example", "user3@acme.example"]
    by_title = (
        await acme.client.get("/Users", params={"sortBy": "title", "sortOrder": "descending", "count": 3})
    ).json()
    assert [u["title"] for u in by_title["Resources"]] == ["t6", "t5", "t4"]
    capped = (await acme.client.get("/Users", params={"count": 100000})).json()
    assert capped["itemsPerPage"] == 7
    empty = (await acme.client.get("/Users", params={"count": 0})).json()
    assert empty["totalResults"] == 7 and empty["Resources"] == []


async def test_cursor_paging_walks_every_user_once(acme: Tenant) -> None:
    for i in range(5):
        await create(acme, userName=f"c{i}@acme.example")
    seen: list[str] = []
    params: dict[str, object] = {"cursor": "", "count": 2}
    for _ in range(10):
        page = (await acme.client.get("/Users", params=params)).json()
        seen += [u["userName"] for u in page["Resources"]]
        if "nextCursor" not in page:
            break
        params = {"cursor": page["nextCursor"], "count": 2}
    assert seen == [f"c{i}@acme.example" for i in range(5)]
    bad = await acme.client.get("/Users", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidCursor"


async def test_search_endpoint(acme: Tenant) -> None:
    await create(acme)
    r = await acme.client.post(
        "/Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'emails[type eq "work" and value co "@acme"]',
            "attributes": ["userName"],
        },
    )
    assert r.status_code == 200
    assert r.json()["totalResults"] == 1
    assert set(r.json()["Resources"][0]) == {"schemas", "id", "userName"}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ('userName eq "jane@acme.example"', 1),
        ('name.givenName sw "J" and not (title pr)', 1),
        (f'{ENTERPRISE}:department eq "finance"', 1),
        ('emails[type eq "work" and value ew ".example"]', 1),
        ('userName eq "nobody"', 0),
    ],
)
async def test_filters(acme: Tenant, filter_: str, expected: int) -> None:
    await create(acme)
    r = await acme.client.get("/Users", params={"filter": filter_})
    assert r.status_code == 200, r.text
    assert r.json()["totalResults"] == expected


async def test_tenant_isolation(app_env: object) -> None:
    acme: Tenant = await app_env("acme")  # type: ignore[operator]
    globex: Tenant = await app_env("globex")  # type: ignore[operator]
    created = await create(acme)
    assert (await globex.client.get(f"/Users/{created['id']}")).status_code == 404
    assert (await globex.client.delete(f"/Users/{created['id']}")).status_code == 404
    assert (await globex.client.get("/Users")).json()["totalResults"] == 0
    # Same userName in another organisation is fine.
    assert (await globex.client.post("/Users", json=user_body())).status_code == 201


async def test_location_behind_a_trusted_proxy_only(acme: Tenant, app_env: object) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "id.example.com"}
    r = await acme.client.post("/Users", json=user_body(), headers=forwarded)
    assert r.json()["meta"]["location"].startswith("https://id.example.com/scim/v2/Users/")
    # The same headers from a client that is not a trusted proxy are ignored.
    import httpx

    untrusted = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_env.app, client=("203.0.113.9", 4321)),  # type: ignore[attr-defined]
        base_url="http://scim.test/scim/v2",
        headers={"Authorization": f"Bearer {acme.token}"},
    )
    async with untrusted:
        r = await untrusted.post("/Users", json=user_body("other@acme.example"), headers=forwarded)
    assert r.json()["meta"]["location"].startswith("http://scim.test/scim/v2/Users/")
