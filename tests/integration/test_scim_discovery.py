"""Discovery endpoints tell the truth about what this server supports (RFC 7644 §4)."""

from __future__ import annotations

from tests.conftest import Tenant


async def test_service_provider_config(acme: Tenant) -> None:
    r = await acme.client.get("/ServiceProviderConfig")
    body = r.json()
    assert r.status_code == 200
    assert body["patch"]["supported"] and body["filter"]["supported"] and body["sort"]["supported"]
    assert body["etag"]["supported"] and body["bulk"]["supported"]
    assert body["changePassword"]["supported"] is False
    assert body["filter"]["maxResults"] == 1000
    assert body["pagination"]["cursor"] is True and body["pagination"]["index"] is True


async def test_discovery_needs_no_credential(acme: Tenant) -> None:
    r = await acme.client.get("/ServiceProviderConfig", headers={"Authorization": ""})
    assert r.status_code == 200


async def test_resource_types_and_schemas(acme: Tenant) -> None:
    rts = (await acme.client.get("/ResourceTypes")).json()
    by_name = {r["name"]: r for r in rts["Resources"]}
    assert by_name["User"]["endpoint"] == "/Users"
    assert by_name["User"]["schemaExtensions"][0]["schema"].endswith("enterprise:2.0:User")
    assert (await acme.client.get("/ResourceTypes/Group")).json()["endpoint"] == "/Groups"
    schemas = (await acme.client.get("/Schemas")).json()
    assert {s["id"] for s in schemas["Resources"]} >= {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    }
    user = (await acme.client.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")).json()
    username = next(a for a in user["attributes"] if a["name"] == "userName")
    assert username["uniqueness"] == "server" and username["required"] is True and username["caseExact"] is False
    assert (await acme.client.get("/Schemas/urn:nope")).status_code == 404


async def test_metrics_expose_request_latency_and_audit_state(acme: Tenant, app_env: object) -> None:
    import httpx

    await acme.client.get("/Users")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_env.app), base_url="http://t") as c:  # type: ignore[attr-defined]
        text = (await c.get("/metrics")).text
    assert 'scimtrail_http_request_duration_seconds_count{area="scim",method="GET",status="2xx"}' in text
    assert "scimtrail_audit_outbox_depth" in text
