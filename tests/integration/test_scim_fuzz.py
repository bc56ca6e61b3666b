"""Whatever a client sends, the answer is a SCIM response, never a 500 (RFC 7644 §3.12)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant

_NAMES = [
    "userName",
    "USERNAME",
    "name",
    "name.givenName",
    "emails",
    'emails[type eq "work"].value',
    "active",
    "members",
    "displayName",
    "externalId",
    "id",
    "meta",
    "groups",
    "schemas",
    "password",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "x",
    "",
    "emails[",
    "a.b.c",
]

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(_NAMES),
    st.sampled_from(["True", "false", "bulkId:x", "\x00", "𝔘"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_NAMES), st.text(max_size=12)), inner, max_size=5),
    ),
    max_leaves=20,
)
_ops = st.fixed_dictionaries(
    {"op": st.one_of(st.sampled_from(["add", "Replace", "REMOVE", "nope"]), _scalars)},
    optional={"path": st.one_of(st.sampled_from(_NAMES), _scalars), "value": _json},
)
_patch = st.one_of(
    _json,
    st.fixed_dictionaries(
        {
            "schemas": st.just(["urn:ietf:params:scim:api:messages:2.0:PatchOp"]),
            "Operations": st.lists(_ops, max_size=4),
        }
    ),
)
_filters = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda a, op, v, join, b: f"{a} {op} {v} {join} {b}",
        st.sampled_from(_NAMES),
        st.sampled_from(["eq", "ne", "co", "sw", "gt", "pr", "xx", "and"]),
        st.sampled_from(['"x"', "true", "null", "1.5", '"', "(", "]", '"2026-01-01T00:00:00Z"']),
        st.sampled_from(["and", "or", "not", ")", ""]),
        st.sampled_from(_NAMES),
    ),
)

_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _scim_answer(r: Any) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        body = r.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and body["status"] == str(
            r.status_code
        )


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


async def test_random_bodies_filters_and_paths_never_fail_the_server(acme: Tenant) -> None:
    user = (await acme.client.post("/Users", json={"userName": "fuzz@acme.example"})).json()["id"]
    group = (await acme.client.post("/Groups", json={"displayName": "Fuzz", "members": [{"value": user}]})).json()["id"]

    @_FUZZ
    @given(body=_json)
    def create_bodies(body: Any) -> None:
        bodies.append(body)

    @_FUZZ
    @given(body=_patch)
    def patch_bodies(body: Any) -> None:
        patches.append(body)

    @_FUZZ
    @given(
        flt=_filters,
        params=st.dictionaries(
            st.sampled_from(
                ["sortBy", "count", "startIndex", "attributes", "cursor", "sortOrder", "excludedAttributes"]
            ),
            st.text(max_size=12),
            max_size=3,
        ),
    )
    def queries(flt: str, params: dict[str, str]) -> None:
        lists.append({"filter": flt, **params})

    bodies: list[Any] = []
    patches: list[Any] = []
    lists: list[dict[str, str]] = []
    create_bodies()
    patch_bodies()
    queries()
    assert len(bodies) >= 30 and len(patches) >= 30 and len(lists) >= 30
    for body in bodies:
        for path in ("/Users", "/Groups", "/Bulk", "/.search", "/Users/.search"):
            _scim_answer(await acme.client.post(path, content=_dumps(body)))
        _scim_answer(await acme.client.put(f"/Users/{user}", content=_dumps(body)))
        _scim_answer(await acme.client.put(f"/Groups/{group}", content=_dumps(body)))
    for body in patches:
        _scim_answer(await acme.client.patch(f"/Users/{user}", content=_dumps(body)))
        _scim_answer(await acme.client.patch(f"/Groups/{group}", content=_dumps(body)))
    for params in lists:
        _scim_answer(await acme.client.get("/Users", params=params))
        _scim_answer(await acme.client.get("/Groups", params=params))
    # The resources are still there and still readable after all of that.
    assert (await acme.client.get(f"/Users/{user}")).status_code == 200
    assert (await acme.client.get(f"/Groups/{group}")).status_code == 200
