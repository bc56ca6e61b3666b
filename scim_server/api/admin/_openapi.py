"""The OpenAPI 3.1 document of the admin API, generated from the operations table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._operations import OPERATIONS, Operation
from ._schemas import REQUESTS, RESOURCES

__all__ = ["openapi_document"]

_PARAM = re.compile(r"{(\w+)}")
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_COMMON_ERRORS = {
    401: "No valid admin API key (missing, unknown, expired, revoked, or a SCIM credential).",
    403: "The key belongs to an auditor: auditors only read the audit log.",
    429: "Rate limit exceeded for this key; see Retry-After.",
}


def _operation(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.response is None:
        responses[str(op.status)] = {"description": "Done."}
    else:
        responses[str(op.status)] = {
            "description": op.summary,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.response}"}}},
        }
    for status, meaning in sorted({**_COMMON_ERRORS, **op.errors}.items()):
        responses[str(status)] = {"description": meaning, "content": _ERROR}
    doc: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    params = _PARAM.findall(op.path)
    if params:
        doc["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    if op.request is not None:
        doc["requestBody"] = {
            "required": bool(REQUESTS[op.request].get("required")),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.request}"}}},
        }
    return doc


def openapi_document(server_url: str = "/api/v1", extra_paths: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The admin API's OpenAPI 3.1 document; ``extra_paths`` describe sub-apps mounted beside it."""
    paths: dict[str, dict[str, Any]] = dict(extra_paths or {})
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "scimtrail admin API",
            "version": "1",
            "description": "Manage an organisation's SCIM tokens, OAuth clients and admin/auditor accounts. "
            "Authenticate with a personal API key: `Authorization: Bearer sk_…`. Secrets appear once, in the "
            "answer that creates them. Auditors may only read and export the audit log (/audit).",
        },
        "servers": [{"url": server_url}],
        "security": [{"adminKey": []}],
        "paths": paths,
        "components": {
            "schemas": {**REQUESTS, **RESOURCES},
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer", "description": "sk_<prefix>_<secret>"},
            },
        },
    }
