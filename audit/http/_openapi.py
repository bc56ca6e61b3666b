"""The OpenAPI 3.1 document, generated from the sections' operations and nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._operations import Operation, Section
from ._render import ERROR_SCHEMA

__all__ = ["ApiInfo", "openapi_document"]

#: What any operation may answer, because every request goes through the same checks.
_EVERY_OPERATION = {
    400: "An unknown query parameter or body field, or a body that is not a JSON object.",
    413: "The request body is too large.",
    415: "The request body is not JSON.",
}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


@dataclass(frozen=True, slots=True)
class ApiInfo:
    title: str
    description: str
    version: str = "1"
    server_url: str = "/api/v1"
    #: The bearer credential non-public operations need, as an OpenAPI security scheme.
    security_scheme: str = "apiKey"
    security_description: str = "An API key: Authorization: Bearer <key>."


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _statuses(section: Section[Any], op: Operation[Any]) -> dict[int, str]:
    statuses = {**_EVERY_OPERATION, **section.errors}
    for status, meaning in op.errors.items():
        # An operation's own reasons come first; the generic ones still apply.
        statuses[status] = f"{meaning} Or: {statuses[status]}" if status in statuses else meaning
    return statuses


def _operation(section: Section[Any], op: Operation[Any]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": _ref(op.response)}}
    elif op.content is not None:
        success["content"] = {media: {"schema": schema} for media, schema in op.content.items()}
    responses: dict[str, Any] = {str(op.status): success}
    for status, meaning in sorted(_statuses(section, op).items()):
        responses[str(status)] = {"description": meaning, "content": _ERROR_CONTENT}
    doc: dict[str, Any] = {"operationId": op.name, "summary": op.summary, "tags": [op.tag], "responses": responses}
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in op.path_params
    ]
    for q in op.query:
        schema: Mapping[str, Any] = {"type": "array", "items": q.schema} if q.repeat else q.schema
        param: dict[str, Any] = {
            "name": q.name,
            "in": "query",
            "required": False,
            "description": q.description,
            "schema": dict(schema),
        }
        if q.repeat:
            param.update(style="form", explode=True)
        params.append(param)
    if params:
        doc["parameters"] = params
    if op.request is not None:
        doc["requestBody"] = {
            "required": bool(section.schemas[op.request].get("required")),
            "content": {"application/json": {"schema": _ref(op.request)}},
        }
    if section.public:
        doc["security"] = []
    return doc


def openapi_document(sections: Sequence[Section[Any]], info: ApiInfo) -> dict[str, Any]:
    """One OpenAPI 3.1 document for every operation of every section."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for section in sections:
        schemas.update(section.schemas)
        for op in section.operations:
            paths.setdefault(section.url(op), {})[op.method.lower()] = _operation(section, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": info.title, "version": info.version, "description": info.description},
        "servers": [{"url": info.server_url}],
        "security": [{info.security_scheme: []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                info.security_scheme: {"type": "http", "scheme": "bearer", "description": info.security_description},
            },
        },
    }
