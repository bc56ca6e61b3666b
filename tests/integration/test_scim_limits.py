"""Values longer than the columns that index them are a 400, on every backend."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/Users", {"userName": "u" * 600}),
        ("/Users", {"userName": "ok@x.io", "externalId": "e" * 600}),
        ("/Groups", {"displayName": "g" * 600}),
    ],
)
async def test_overlong_indexed_values_are_invalid_value(acme: Tenant, path: str, body: dict[str, object]) -> None:
    r = await acme.client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["scimType"] == "invalidValue"


async def test_overlong_member_display_is_invalid_value(acme: Tenant) -> None:
    user = (await acme.client.post("/Users", json={"userName": "m@x.io"})).json()["id"]
    r = await acme.client.post("/Groups", json={"displayName": "G", "members": [{"value": user, "display": "d" * 600}]})
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue"
