"""Bad input always gets a clear RFC 7644 §3.12 error, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _error(r: object, status: int, scim_type: str | None = None) -> None:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body.get("detail")
    if scim_type:
        assert body["scimType"] == scim_type


async def test_malformed_json_is_invalid_syntax(acme: Tenant) -> None:
    _error(await acme.client.post("/Users", content=b'{"userName": '), 400, "invalidSyntax")
    _error(await acme.client.post("/Users", content=b"[1,2]"), 400, "invalidSyntax")
    _error(await acme.client.post("/Users", content=b""), 400, "invalidSyntax")
    _error(await acme.client.post("/Users", content=b"\xff\xfe"), 400, "invalidSyntax")


async def test_missing_username_is_invalid_value(acme: Tenant) -> None:
    _error(
        await acme.client.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
        400,
        "invalidValue",
    )


@pytest.mark.parametrize(
    "flt", ["userName eq", 'nosuchattr eq "x"', 'userName xx "a"', '(userName eq "a"', "active gt true"]
)
async def test_bad_filters_are_invalid_filter_never_all_rows(acme: Tenant, flt: str) -> None:
    await acme.client.post("/Users", json={"userName": "a@b.c"})
    _error(await acme.client.get("/Users", params={"filter": flt}), 400, "invalidFilter")


async def test_bad_patch_path_and_readonly(acme: Tenant) -> None:
    user = (await acme.client.post("/Users", json={"userName": "p@b.c"})).json()
    url = f"/Users/{user['id']}"
    _error(
        await acme.client.patch(
            url, json={"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nope", "value": 1}]}
        ),
        400,
        "invalidPath",
    )
    _error(
        await acme.client.patch(
            url, json={"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}
        ),
        400,
        "mutability",
    )
    _error(await acme.client.patch(url, json={"schemas": [PATCH], "Operations": [{"op": "remove"}]}), 400, "noTarget")


async def test_oversized_body_is_413(acme: Tenant) -> None:
    big = b'{"userName": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    r = await acme.client.post("/Users", content=big)
    assert r.status_code == 413
    assert r.json()["status"] == "413"


async def test_missing_or_wrong_credential_is_401_with_scim_body(acme: Tenant) -> None:
    r = await acme.client.get("/Users", headers={"Authorization": ""})
    _error(r, 401)
    assert "www-authenticate" in r.headers
    _error(await acme.client.get("/Users", headers={"Authorization": "Bearer scim_000000000000_nope"}), 401)
    _error(await acme.client.get("/Users", headers={"Authorization": acme.token}), 401)


async def test_unknown_id_and_endpoint_and_method(acme: Tenant) -> None:
    _error(await acme.client.get("/Users/does-not-exist"), 404)
    _error(await acme.client.get("/Nope"), 404)
    _error(await acme.client.post("/Users/abc", json={}), 405)


async def test_bad_paging_parameters(acme: Tenant) -> None:
    _error(await acme.client.get("/Users", params={"count": "ten"}), 400, "invalidValue")
    _error(await acme.client.get("/Users", params={"sortBy": "nosuch"}), 400, "invalidValue")
    ok = await acme.client.get("/Users", params={"startIndex": "-5"})
    assert ok.status_code == 200 and ok.json()["startIndex"] == 1
