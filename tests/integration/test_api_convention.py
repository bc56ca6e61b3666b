"""One convention for the whole /api/v1 (admin, audit log, log streams), and plain pages elsewhere.

Every API error has one shape, whichever API answers; every API refuses what it was not asked
(unknown query parameters, unknown body fields, non-JSON or oversized bodies); paths nothing
serves answer a plain 404, in SCIM's shape only under /scim/v2.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.support.credentials import admin_key, api_client

_WEBHOOK = {
    "type": "webhook",
    "name": "siem",
    "config": {"url": "https://siem.acme.example/hook", "secret": "whsec_" + "QUJD" * 8},
}


def _api_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) <= {"error", "message", "details"} and {"error", "message"} <= set(body), body
    assert body["error"] == code and body["message"], body
    return body


@pytest.fixture
async def api(acme: Tenant, app_env: Any) -> Any:
    key = await admin_key(app_env.app.state.db, "acme")
    async with api_client(app_env.app, key) as client:
        yield client


#: One operation of each API, and the body fields it accepts.
_EACH_API = [
    pytest.param("GET", "/api/v1/tokens", id="admin"),
    pytest.param("GET", "/api/v1/audit/events", id="audit"),
    pytest.param("GET", "/api/v1/streams", id="streams"),
]
_BODIES = [
    pytest.param("/api/v1/tokens", {"label": "okta-prod"}, id="admin"),
    pytest.param("/api/v1/streams", _WEBHOOK, id="streams"),
]


@pytest.mark.parametrize(("method", "path"), _EACH_API)
async def test_unknown_query_parameters_are_refused_by_every_api(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    body = _api_error(await api.request(method, path, params={"page_size": "5"}), 400, "unknown_parameter")
    assert "page_size" in body["message"] and body["details"]["unknown"] == ["page_size"]


@pytest.mark.parametrize(("path", "good"), _BODIES)
async def test_unknown_body_fields_are_refused_by_every_api(
    api: httpx.AsyncClient, path: str, good: dict[str, Any]
) -> None:
    body = _api_error(await api.post(path, json={**good, "colour": "red"}), 400, "unknown_field")
    assert "colour" in body["message"] and body["details"]["unknown"] == ["colour"]
    assert set(good) <= set(body["details"]["accepted"])
    # Nothing was created by the refused request; the good one still works.
    assert (await api.post(path, json=good)).status_code == 201


async def test_unknown_fields_on_operations_without_a_body(api: httpx.AsyncClient) -> None:
    stream = (await api.post("/api/v1/streams", json=_WEBHOOK)).json()["id"]
    _api_error(await api.post(f"/api/v1/streams/{stream}/pause", json={"until": "monday"}), 400, "unknown_field")
    assert (await api.get(f"/api/v1/streams/{stream}")).json()["state"] == "active"
    assert (await api.post(f"/api/v1/streams/{stream}/pause", json={})).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/tokens", "/api/v1/streams", "/api/v1/audit/retention"])
async def test_bodies_are_json_objects_of_bounded_size(api: httpx.AsyncClient, path: str) -> None:
    method = "PUT" if path.endswith("retention") else "POST"
    form = await api.request(
        method, path, content=b"label=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    _api_error(form, 415, "unsupported_media_type")
    _api_error(
        await api.request(method, path, content=b"{nope", headers={"content-type": "application/json"}),
        400,
        "invalid_json",
    )
    _api_error(await api.request(method, path, json=["a", "list"]), 400, "invalid_request")
    # Over the API's limit (64 KiB), and over the server's (1 MiB, refused before the app reads it).
    for size in (70_000, 2_000_000):
        huge = await api.request(method, path, json={"label": "x" * size})
        assert _api_error(huge, 413, "too_large")["message"]


async def test_the_error_shape_is_the_same_on_every_api(api: httpx.AsyncClient, app_env: Any) -> None:
    not_found = [
        await api.get("/api/v1/tokens/tok_nope"),
        await api.get("/api/v1/audit/events/evt_nope"),
        await api.get("/api/v1/streams/ls_nope"),
        await api.get("/api/v1/no-such-thing"),
    ]
    shapes = {tuple(sorted(_api_error(r, 404, "not_found"))) for r in not_found}
    assert shapes == {("error", "message")}
    async with api_client(app_env.app, None) as anonymous:
        unauthorized = [await anonymous.get(p) for p in ("/api/v1/tokens", "/api/v1/audit/events", "/api/v1/streams")]
    for response in unauthorized:
        _api_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    wrong_method = [
        await api.put("/api/v1/tokens"),
        await api.delete("/api/v1/audit/events"),
        await api.put("/api/v1/streams"),
    ]
    for response in wrong_method:
        _api_error(response, 405, "method_not_allowed")


async def test_pages_nothing_serves_are_a_plain_404(acme: Tenant, app_env: Any) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_env.app), base_url="https://scimtrail.test"
    ) as http:
        for path in ("/", "/portal", "/scim", "/scim/v1/Users", "/favicon.ico"):
            body = _api_error(await http.get(path), 404, "not_found")
            assert "schemas" not in body and path in body["message"]
        page = await http.get("/portal", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "<h1>404</h1>" in page.text and "urn:ietf" not in page.text
        escaped = await http.get("/<script>", headers={"accept": "text/html"})
        assert "<script>" not in escaped.text
        _api_error(await http.post("/healthz"), 405, "method_not_allowed")
        # Under /scim/v2 an unmatched path is still a SCIM error; under /api/v1 the API's.
        scim = await acme.client.get("/Nothing")
        assert scim.status_code == 404 and scim.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        _api_error(await http.get("/api/v1/nothing"), 404, "not_found")


async def test_scim_keeps_its_own_413(acme: Tenant) -> None:
    response = await acme.client.post(
        "/Users", content=b"{" + b" " * 2_000_000 + b"}", headers={"content-type": "application/scim+json"}
    )
    assert response.status_code == 413 and response.json()["status"] == "413"
