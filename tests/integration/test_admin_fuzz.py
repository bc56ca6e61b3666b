"""The admin API answers any body or query with a JSON error, never a 500."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant
from tests.support.credentials import admin_key, api_client

_KEYS = [
    "label",
    "expires_at",
    "grace_seconds",
    "expires_old_at",
    "email",
    "role",
    "days",
    "type",
    "name",
    "config",
    "filter",
    "format",
    "from_sequence",
    "url",
    "secret",
    "categories",
    "actions",
]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=24),
    st.sampled_from(["admin", "auditor", "webhook", "s3", "2026-13-45T99:00:00Z", "whsec_x", "ocsf"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)),
    max_leaves=15,
)
_params = st.dictionaries(
    st.sampled_from(
        ["since", "until", "range", "category", "action", "actor", "target", "q", "limit", "cursor", "format"]
    ),
    st.one_of(st.text(max_size=20), st.sampled_from(["7d", "-1", "99999999999999999999", "csv", "*", "a*", '"'])),
    max_size=4,
)
_FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))


def _json_answer(r: Any) -> None:
    assert r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert "error" in r.json()


async def test_random_admin_requests_never_fail_the_server(acme: Tenant, app_env: Any) -> None:
    key = await admin_key(app_env.app.state.db, "acme")
    bodies: list[Any] = []
    queries: list[dict[str, str]] = []

    @_FUZZ
    @given(body=_json)
    def gen_bodies(body: Any) -> None:
        bodies.append(body)

    @_FUZZ
    @given(params=_params)
    def gen_queries(params: dict[str, str]) -> None:
        queries.append(params)

    gen_bodies()
    gen_queries()
    assert len(bodies) >= 25 and len(queries) >= 25
    async with api_client(app_env.app, key) as api:
        for body in bodies:
            raw = json.dumps(body, allow_nan=True).encode()
            for path in ("/api/v1/tokens", "/api/v1/oauth-clients", "/api/v1/admins", "/api/v1/streams"):
                _json_answer(await api.post(path, content=raw, headers={"content-type": "application/json"}))
            _json_answer(
                await api.put("/api/v1/audit/retention", content=raw, headers={"content-type": "application/json"})
            )
        for params in queries:
            _json_answer(await api.get("/api/v1/audit/events", params=params))
            r = await api.get("/api/v1/audit/export", params=params)
            assert r.status_code < 500, (params, r.status_code, r.text[:300])
        _json_answer(
            await api.post("/api/v1/tokens", content=b"{not json", headers={"content-type": "application/json"})
        )
        assert (await api.get("/api/v1/tokens")).status_code == 200
