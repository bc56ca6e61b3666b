"""What the audit query API declares: its query parameters and the JSON Schemas of its documents.

The operations in :mod:`audit.query.app` name these; the same declarations decide which
parameters a request may carry and what the OpenAPI document shows.
"""

from __future__ import annotations

from typing import Any

from ..http import Param
from ..retention import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS
from .export import FORMATS
from .filters import RANGES

__all__ = ["CURSOR", "EXPORT_CONTENT", "FILTERS", "FORMAT", "LIMIT", "SCHEMAS"]

FILTERS: tuple[Param, ...] = (
    Param("since", "Earliest occurred_at, ISO 8601 (inclusive)."),
    Param("until", "Latest occurred_at, ISO 8601 (exclusive)."),
    Param("range", "A preset time range instead of since.", {"type": "string", "enum": list(RANGES)}),
    Param("category", "Event category (repeatable).", repeat=True),
    Param("action", "Event action, e.g. user.provisioned (repeatable).", repeat=True),
    Param("actor", "Actor name, exactly (a credential label or an account email)."),
    Param("target", "Target name, exactly (an email, a group name, a slug)."),
    Param("q", "Free text over actor, action, category, targets and metadata; whole words, `word*` for a prefix."),
)
LIMIT = Param("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 1000})
CURSOR = Param("cursor", "The next_cursor of the previous page.")
FORMAT = Param("format", "File format (default json).", {"type": "string", "enum": list(FORMATS)})

_EVENT = {"type": "object", "description": "A sealed audit event (canonical form, with sequence and hash)."}
_POLICY = {
    "type": "object",
    "properties": {"organization": {"type": "string"}, "days": {"type": "integer"}, "default": {"type": "boolean"}},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "AuditEvent": _EVENT,
    "AuditEventPage": {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "RetentionPolicy": _POLICY,
    "RetentionUpdate": {
        "type": "object",
        "required": ["days"],
        "additionalProperties": False,
        "properties": {"days": {"type": "integer", "minimum": MIN_RETENTION_DAYS, "maximum": MAX_RETENTION_DAYS}},
    },
}

#: The export's answer per format.
EXPORT_CONTENT: dict[str, Any] = {
    "text/csv": {"type": "string"},
    "application/json": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}},
    "application/x-ndjson": {"type": "string"},
}
