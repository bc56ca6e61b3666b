"""The /api/v1 OpenAPI 3.1 document: valid, served, and describing exactly the routes that exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openapi_spec_validator import validate
from starlette.requests import Request
from starlette.routing import Route

import audit
from scim_server.api.admin import api_v1, openapi_document
from tests.support.credentials import api_client

_METHODS = ("get", "post", "put", "patch", "delete")


async def _nobody(request: Request) -> audit.Caller | None:
    return None


def _audit_sections() -> list[Any]:
    # Described, never served: nothing here touches a database.
    return [
        audit.audit_section(None, _nobody, prefix="/audit"),  # type: ignore[arg-type]
        audit.streams_section(None, secret_key=b"k", authorize=_nobody, prefix="/streams"),
    ]  # type: ignore[arg-type]


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi_document(_audit_sections())
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_is_documented_and_every_documented_operation_is_routed() -> None:
    app = api_v1(credentials=None, guard=None, sections=_audit_sections())  # type: ignore[arg-type]
    routed = {
        (m.lower(), r.path)
        for r in app.routes
        if isinstance(r, Route) and r.path != "/openapi.json"
        for m in (r.methods or ())
        if m != "HEAD"
    }
    document = openapi_document(_audit_sections())
    documented = {(m, p) for p, item in document["paths"].items() for m in item if m in _METHODS}
    assert routed == documented


def test_every_operation_documents_what_every_request_can_be_answered() -> None:
    for path, item in openapi_document(_audit_sections())["paths"].items():
        for method, operation in item.items():
            # Unknown parameters or fields (400), oversized (413) or non-JSON (415) bodies, no credential (401).
            assert {"400", "401", "413", "415"} <= set(operation["responses"]), (method, path)
            for status, response in operation["responses"].items():
                if status >= "400":
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


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
        strict = await http.get("/api/v1/openapi.json", params={"v": "2"})
    assert served.status_code == 200
    assert (strict.status_code, strict.json()["error"]) == (400, "unknown_parameter")
    document = served.json()
    validate(document)
    own = openapi_document(_audit_sections())["paths"]
    assert {p: document["paths"][p] for p in own} == own
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
    # The audit log and log streams, mounted beside the admin routes, are described too.
    assert {"/audit/events", "/audit/events/{event_id}", "/audit/export", "/audit/retention"} <= set(document["paths"])
    assert {"/streams", "/streams/{stream_id}", "/streams/{stream_id}/replay"} <= set(document["paths"])
