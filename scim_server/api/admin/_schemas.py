"""JSON Schemas of the admin API: the OpenAPI document shows them and request bodies are checked against them.

Only the few schema keywords used here are understood by :func:`validate`; one definition serves
both, so documentation and behaviour cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from audit.http import ApiError

__all__ = ["REQUESTS", "RESOURCES", "validate"]

_LABEL = {
    "type": "string",
    "pattern": "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
    "description": "Slug-like name, e.g. okta-prod.",
}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_STATE = {"type": "string", "enum": ["active", "expired", "revoked"]}

REQUESTS: dict[str, dict[str, Any]] = {
    "TokenCreate": {
        "type": "object",
        "required": ["label"],
        "additionalProperties": False,
        "properties": {
            "label": _LABEL,
            "expires_at": {**_TIME, "description": "When the token stops working (RFC 3339, with a zone)."},
        },
    },
    "TokenRotate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "expires_old_at": {**_TIME, "description": "When the old token stops working (default: now)."},
            "grace_seconds": {
                "type": "integer",
                "minimum": 0,
                "maximum": 2592000,
                "description": "Alternatively, how long the old token keeps working.",
            },
            "label": {**_LABEL, "description": "The new token's label (default: the old token's)."},
            "expires_at": {**_TIME, "description": "When the new token stops working."},
        },
    },
    "OAuthClientCreate": {
        "type": "object",
        "required": ["label"],
        "additionalProperties": False,
        "properties": {"label": _LABEL},
    },
    "AccountCreate": {
        "type": "object",
        "required": ["email", "role"],
        "additionalProperties": False,
        "properties": {
            "email": {"type": "string", "format": "email", "maxLength": 320},
            "role": {"type": "string", "enum": ["admin", "auditor"]},
            "key_label": {**_LABEL, "description": "Label of the account's first API key (default: default)."},
        },
    },
    "KeyCreate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"label": _LABEL, "expires_at": _TIME},
    },
}

_TOKEN = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "label": {"type": "string"},
        "prefix": {"type": "string", "description": "The public part of the token, as shown in logs."},
        "created_at": _TIME,
        "expires_at": _TIME_OR_NULL,
        "revoked_at": _TIME_OR_NULL,
        "last_used_at": _TIME_OR_NULL,
        "state": _STATE,
    },
}
_CLIENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "label": {"type": "string"},
        "client_id": {"type": "string"},
        "created_at": _TIME,
        "secret_rotated_at": _TIME_OR_NULL,
        "revoked_at": _TIME_OR_NULL,
        "last_used_at": _TIME_OR_NULL,
        "state": _STATE,
    },
}
_KEY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "account_id": {"type": "string"},
        "label": {"type": "string"},
        "prefix": {"type": "string"},
        "created_at": _TIME,
        "expires_at": _TIME_OR_NULL,
        "revoked_at": _TIME_OR_NULL,
        "last_used_at": _TIME_OR_NULL,
        "state": _STATE,
    },
}
_ACCOUNT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "email": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "auditor"]},
        "created_at": _TIME,
    },
}


def _with_secret(schema: dict[str, Any], name: str, description: str) -> dict[str, Any]:
    return {
        "allOf": [
            schema,
            {
                "type": "object",
                "required": [name],
                "properties": {name: {"type": "string", "description": description}},
            },
        ]
    }


RESOURCES: dict[str, dict[str, Any]] = {
    "Organization": {
        "type": "object",
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "created_at": _TIME,
            "scim_base_path": {"type": "string"},
        },
    },
    "Token": _TOKEN,
    "TokenCreated": _with_secret(_TOKEN, "token", "The whole bearer token. Shown once; store it now."),
    "TokenList": {"type": "object", "properties": {"tokens": {"type": "array", "items": _TOKEN}}},
    "OAuthClient": _CLIENT,
    "OAuthClientCreated": _with_secret(_CLIENT, "client_secret", "The client secret. Shown once; store it now."),
    "OAuthClientList": {"type": "object", "properties": {"oauth_clients": {"type": "array", "items": _CLIENT}}},
    "Key": _KEY,
    "KeyCreated": _with_secret(_KEY, "key", "The whole API key. Shown once; store it now."),
    "KeyList": {"type": "object", "properties": {"keys": {"type": "array", "items": _KEY}}},
    "Account": _ACCOUNT,
    "AccountCreated": {
        "allOf": [_ACCOUNT, {"type": "object", "properties": {"key": {"$ref": "#/components/schemas/KeyCreated"}}}],
    },
    "AccountList": {"type": "object", "properties": {"admins": {"type": "array", "items": _ACCOUNT}}},
}


def validate(body: dict[str, Any], schema_name: str) -> dict[str, Any]:
    """``body`` checked against a request schema; values of ``date-time`` fields become datetimes."""
    schema = REQUESTS[schema_name]
    # The body was read by audit.http.read_json_object: an object with only declared fields.
    properties: dict[str, Any] = schema["properties"]
    missing = [name for name in schema.get("required", ()) if name not in body]
    if missing:
        raise ApiError(422, "invalid_value", f"Missing required field(s): {', '.join(missing)}.")
    return {name: _value(name, value, properties[name]) for name, value in body.items() if name in properties}


def _value(name: str, value: Any, schema: dict[str, Any]) -> Any:
    kind = schema["type"]
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ApiError(422, "invalid_value", f"{name} must be an integer.")
        if not schema.get("minimum", value) <= value <= schema.get("maximum", value):
            raise ApiError(
                422, "invalid_value", f"{name} must be between {schema.get('minimum')} and {schema.get('maximum')}."
            )
        return value
    if not isinstance(value, str):
        raise ApiError(422, "invalid_value", f"{name} must be a string.")
    if "enum" in schema and value not in schema["enum"]:
        raise ApiError(422, "invalid_value", f"{name} must be one of: {', '.join(schema['enum'])}.")
    if len(value) > schema.get("maxLength", 1000):
        raise ApiError(422, "invalid_value", f"{name} is too long.")
    if schema.get("format") == "date-time":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ApiError(
                422, "invalid_value", f"{name} must be an RFC 3339 timestamp with a zone, e.g. 2026-12-31T00:00:00Z."
            )
        return moment
    return value
