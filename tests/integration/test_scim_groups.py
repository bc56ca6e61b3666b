"""Groups and membership over HTTP, including the IdP membership dialects (DESIGN §4)."""

from __future__ import annotations

from tests.conftest import Tenant

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


async def user(t: Tenant, name: str) -> str:
    r = await t.client.post("/Users", json={"userName": name, "emails": [{"value": name, "primary": True}]})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def group(t: Tenant, name: str, members: list[str] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"schemas": [GROUP], "displayName": name}
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    r = await t.client.post("/Groups", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def ids(resource: dict[str, object]) -> set[str]:
    return {m["value"] for m in resource.get("members", [])}  # type: ignore[index,union-attr]


async def test_create_with_members_and_users_see_their_groups(acme: Tenant) -> None:
    a, b = await user(acme, "a@x.io"), await user(acme, "b@x.io")
    g = await group(acme, "Engineering", [a, b])
    assert ids(g) == {a, b}
    assert all(m["type"] == "User" and m["$ref"].endswith(m["value"]) for m in g["members"])  # type: ignore[index,union-attr]
    ua = (await acme.client.get(f"/Users/{a}")).json()
    assert ua["groups"] == [
        {
            "value": g["id"],
            "$ref": f"http://scim.test/scim/v2/Groups/{g['id']}",
            "display": "Engineering",
            "type": "direct",
        }
    ]


async def test_patch_add_and_remove_members_both_forms(acme: Tenant) -> None:
    a = await user(acme, "a@x.io")
    b = await user(acme, "b@x.io")
    c = await user(acme, "c@x.io")
    g = await group(acme, "Team")
    url = f"/Groups/{g['id']}"
    r = await acme.client.patch(
        url,
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "Add", "path": "members", "value": [{"value": a}, {"value": b}, {"value": c}]}],
        },
    )
    # 204 as Okta and Entra expect (a large group's members are not resent per change) ...
    assert r.status_code == 204 and r.headers["etag"] and not r.content
    assert ids((await acme.client.get(url)).json()) == {a, b, c}
    # Entra/Okta: remove by value-filtered path
    r = await acme.client.patch(
        url,
        params={"attributes": "members"},
        json={"schemas": [PATCH], "Operations": [{"op": "Remove", "path": f'members[value eq "{a}"]'}]},
    )
    assert ids(r.json()) == {b, c}
    # Okta: remove by value array; ... and 200 with the resource when a projection asks for a body
    r = await acme.client.patch(
        url,
        params={"excludedAttributes": "externalId"},
        json={"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members", "value": [{"value": b}]}]},
    )
    assert ids(r.json()) == {c} and r.json()["displayName"] == "Team"


async def test_put_without_members_keeps_them_okta_rename(acme: Tenant) -> None:
    a = await user(acme, "a@x.io")
    g = await group(acme, "Old name", [a])
    r = await acme.client.put(f"/Groups/{g['id']}", json={"schemas": [GROUP], "displayName": "New name"})
    assert r.status_code == 200
    assert r.json()["displayName"] == "New name" and ids(r.json()) == {a}
    r = await acme.client.put(f"/Groups/{g['id']}", json={"schemas": [GROUP], "displayName": "New name", "members": []})
    assert ids(r.json()) == set()


async def test_excluded_members_and_display_name_lookup(acme: Tenant) -> None:
    a = await user(acme, "a@x.io")
    g = await group(acme, "Sales", [a])
    r = await acme.client.get("/Groups", params={"excludedAttributes": "members"})
    assert r.json()["Resources"][0]["displayName"] == "Sales" and "members" not in r.json()["Resources"][0]
    r = await acme.client.get("/Groups", params={"filter": 'displayName eq "sales"'})
    assert r.json()["totalResults"] == 1
    r = await acme.client.get("/Groups", params={"filter": f'members.value eq "{a}"'})
    assert [x["id"] for x in r.json()["Resources"]] == [g["id"]]
    r = await acme.client.get(f"/Groups/{g['id']}", params={"excludedAttributes": "members"})
    assert "members" not in r.json()


async def test_duplicate_display_name_is_409(acme: Tenant) -> None:
    await group(acme, "Admins")
    r = await acme.client.post("/Groups", json={"schemas": [GROUP], "displayName": "ADMINS"})
    assert r.status_code == 409 and r.json()["scimType"] == "uniqueness"


async def test_unknown_or_foreign_member_is_rejected(app_env: object) -> None:
    acme: Tenant = await app_env("acme")  # type: ignore[operator]
    globex: Tenant = await app_env("globex")  # type: ignore[operator]
    foreign = await user(globex, "spy@globex.io")
    r = await acme.client.post(
        "/Groups", json={"schemas": [GROUP], "displayName": "G", "members": [{"value": foreign}]}
    )
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue"
    assert (await acme.client.get("/Groups")).json()["totalResults"] == 0


async def test_deleting_a_user_removes_its_memberships(acme: Tenant) -> None:
    a = await user(acme, "a@x.io")
    g = await group(acme, "G", [a])
    assert (await acme.client.delete(f"/Users/{a}")).status_code == 204
    assert ids((await acme.client.get(f"/Groups/{g['id']}")).json()) == set()


async def test_nested_group_member(acme: Tenant) -> None:
    inner = await group(acme, "Inner")
    outer = await group(acme, "Outer", [str(inner["id"])])
    assert outer["members"][0]["type"] == "Group"  # type: ignore[index]


async def test_bulk_with_bulk_id_references_and_fail_on_errors(acme: Tenant) -> None:
    r = await acme.client.post(
        "/Bulk",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g1",
                    "data": {"schemas": [GROUP], "displayName": "Bulk group", "members": [{"value": "bulkId:u1"}]},
                },
                {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "bulk@x.io"}},
                {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"userName": "bulk@x.io"}},
            ],
        },
    )
    assert r.status_code == 200, r.text
    ops = {o["bulkId"]: o for o in r.json()["Operations"]}
    assert ops["u1"]["status"] == "201" and ops["g1"]["status"] == "201"
    assert ops["u2"]["status"] == "409" and ops["u2"]["response"]["scimType"] == "uniqueness"
    g = (await acme.client.get(ops["g1"]["location"].replace("http://scim.test/scim/v2", ""))).json()
    assert ids(g) == {ops["u1"]["location"].rsplit("/", 1)[1]}

    stop = await acme.client.post(
        "/Bulk",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "failOnErrors": 1,
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "bulk@x.io"}},
                {"method": "POST", "path": "/Users", "bulkId": "y", "data": {"userName": "new@x.io"}},
            ],
        },
    )
    assert [o["bulkId"] for o in stop.json()["Operations"]] == ["x"]
