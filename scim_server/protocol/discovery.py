"""Discovery documents (RFC 7644 §4, RFC 9865 §5): they describe exactly what this server does."""

from __future__ import annotations

from typing import Any

from .schema import ResourceType, SchemaDef, resource_types

__all__ = ["service_provider_config", "resource_type_document", "schema_document", "all_schemas"]

_SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
_RT_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"


def service_provider_config(
    base_url: str, *, max_results: int, default_page_size: int, max_operations: int, max_payload: int
) -> dict[str, Any]:
    return {
        "schemas": [_SPC_SCHEMA],
        "documentationUri": "https://github.com/scimtrail/scimtrail#readme",
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": max_operations, "maxPayloadSize": max_payload},
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "pagination": {
            "cursor": True,
            "index": True,
            "defaultPaginationMethod": "index",
            "defaultPageSize": default_page_size,
            "maxPageSize": max_results,
            "cursorTimeout": 3600,
        },
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A SCIM bearer token (scim_…) or an OAuth 2.0 client-credentials access token.",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def resource_type_document(rtype: ResourceType, base_url: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemas": [_RT_SCHEMA],
        "id": rtype.name,
        "name": rtype.name,
        "endpoint": rtype.endpoint,
        "description": rtype.description,
        "schema": rtype.schema.id,
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/{rtype.name}"},
    }
    if rtype.extensions:
        doc["schemaExtensions"] = [{"schema": s.id, "required": req} for s, req in rtype.extensions]
    return doc


def schema_document(schema: SchemaDef, base_url: str) -> dict[str, Any]:
    doc = schema.to_dict()
    doc["meta"] = {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema.id}"}
    return doc


def all_schemas() -> list[SchemaDef]:
    seen: dict[str, SchemaDef] = {}
    for rtype in resource_types():
        for schema in rtype.schemas():
            seen.setdefault(schema.id, schema)
    return list(seen.values())
