"""OpenAPI path items for the audit query API, for the host to merge into its document."""

from __future__ import annotations

from typing import Any

__all__ = ["audit_openapi_paths"]


def _q(name: str, description: str, *, repeat: bool = False, enum: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if enum:
        schema["enum"] = enum
    if repeat:
        schema = {"type": "array", "items": schema}
    param: dict[str, Any] = {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
    if repeat:
        param.update(style="form", explode=True)
    return param


_FILTERS = [
    _q("since", "Earliest occurred_at, ISO 8601 (inclusive)."),
    _q("until", "Latest occurred_at, ISO 8601 (exclusive)."),
    _q("range", "A preset time range instead of since/until.", enum=["today", "7d", "30d", "90d"]),
    _q("category", "Event category (repeatable).", repeat=True),
    _q("action", "Event action, e.g. user.provisioned (repeatable).", repeat=True),
    _q("actor", "Actor name, exactly (a credential label or an account email)."),
    _q("target", "Target name, exactly (an email, a group name, a slug)."),
    _q("q", "Free text over actor, action, category, targets and metadata; whole words, `word*` for a prefix."),
]
_ERRORS = {
    "400": {"description": "A filter is malformed"},
    "401": {"description": "No valid admin or auditor API key"},
}
_EVENT = {"type": "object", "description": "A sealed audit event (canonical form, with sequence and hash)."}


def audit_openapi_paths(prefix: str = "/audit") -> dict[str, Any]:
    tags = ["audit log"]
    return {
        f"{prefix}/events": {
            "get": {
                "tags": tags,
                "summary": "Search the audit log, newest first",
                "parameters": [
                    *_FILTERS,
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    _q("cursor", "The next_cursor of the previous page."),
                ],
                "responses": {
                    "200": {
                        "description": "A page of events",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "data": {"type": "array", "items": _EVENT},
                                        "next_cursor": {"type": ["string", "null"]},
                                    },
                                }
                            }
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        f"{prefix}/events/{{event_id}}": {
            "get": {
                "tags": tags,
                "summary": "One event by id",
                "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The event", "content": {"application/json": {"schema": _EVENT}}},
                    "404": {"description": "No such event in this organisation"},
                    **_ERRORS,
                },
            }
        },
        f"{prefix}/export": {
            "get": {
                "tags": tags,
                "summary": "Export the matching events, oldest first, streamed (recorded as audit_log.exported)",
                "parameters": [_q("format", "File format.", enum=["csv", "json", "ndjson"]), *_FILTERS],
                "responses": {
                    "200": {
                        "description": "The export",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"type": "array", "items": _EVENT}},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        f"{prefix}/retention": {
            "get": {
                "tags": tags,
                "summary": "The organisation's retention policy",
                "responses": {"200": {"description": "The policy"}, **_ERRORS},
            },
            "put": {
                "tags": tags,
                "summary": "Set the retention window (admins only; audited as retention_policy.updated)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["days"],
                                "properties": {"days": {"type": "integer", "minimum": 30, "maximum": 3650}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "The new policy"},
                    "403": {"description": "Auditors cannot change retention"},
                    **_ERRORS,
                },
            },
        },
    }
