"""Assembling a resource for the wire from what storage holds, and its version (RFC 7644 §3.14)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["etag", "parse_etags", "format_datetime", "render"]


def etag(version: int) -> str:
    return f'W/"{version}"'


def parse_etags(header: str) -> set[str] | None:
    """The version tags in an If-Match/If-None-Match header; None for ``*`` (any version)."""
    if header.strip() == "*":
        return None
    tags = set()
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tags.add(tag.strip('"'))
    return tags


def format_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def render(
    *,
    resource_type: str,
    id: str,
    data: Mapping[str, Any],
    version: int,
    created: datetime,
    last_modified: datetime,
    location: str,
    derived: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The full resource: stored canonical data + id + derived attributes + meta."""
    out: dict[str, Any] = {"schemas": data.get("schemas", []), "id": id}
    for key, value in data.items():
        if key != "schemas":
            out[key] = value
    if derived:
        for key, value in derived.items():
            if value:
                out[key] = list(value)
    out["meta"] = {
        "resourceType": resource_type,
        "created": format_datetime(created),
        "lastModified": format_datetime(last_modified),
        "location": location,
        "version": etag(version),
    }
    return out
