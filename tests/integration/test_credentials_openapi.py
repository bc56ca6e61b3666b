"""The admin API's OpenAPI 3.1 document: valid, served, and describing exactly the routes that exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openapi_spec_validator import validate
from starlette.routing import Route

from scim_server.api.admin import admin_app, openapi_document
from tests.support.credentials import api_client

_METHODS = ("get", "post", "put", "patch", "delete")


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_is_documented_and_every_documented_operation_is_routed() -> None:
    app = admin_app(credentials=None, guard=None)  # type: ignore[arg-type]
    routed = {(m.lower(), r.path) for r in app.routes if isinstance(r, Route) and r.path != "/openapi.json"
              for m in (r.methods or ()) if m != "HEAD"}
    document = openapi_document()
    documented = {(m, p) for p, item in document["paths"].items() for m in item if m in _METHODS}
    assert routed == documented


def test_creating_operations_document_the_secret_shown_once() -> None:
    paths = openapi_document()["paths"]
    schemas = openapi_document()["components"]["schemas"]
    for path, field in (("/tokens", "token"), ("/oauth-clients", "client_secret"), ("/admins/{id}/keys", "key")):
        created = paths[path]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[created.rsplit("/", 1)[1]]
        assert field in schema["allOf"][1]["required"]
    for schema_name in ("Token", "OAuthClient", "Key"):
        assert not {"token", "client_secret", "key", "secret_hash"} & set(schemas[schema_name]["properties"])


async def test_served_without_a_credential(app_env: Callable[..., Any]) -> None:
    async with api_client(app_env.app, None) as http:  # type: ignore[attr-defined]
        served = await http.get("/api/v1/openapi.json")
    assert served.status_code == 200
    document = served.json()
    validate(document)
    own = openapi_document()["paths"]
    assert {p: document["paths"][p] for p in own} == own
    # The audit log and log streams, mounted beside the admin routes, are described too.
    assert {"/audit/events", "/audit/events/{event_id}", "/audit/export", "/audit/retention"} <= set(document["paths"])
    assert {"/streams", "/streams/{stream_id}", "/streams/{stream_id}/replay"} <= set(document["paths"])
