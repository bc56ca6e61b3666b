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
    m = moment.astimezone(UTC)
    # By hand: strftime costs several times more, and every rendered resource formats two.
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond // 1000:03d}Z"


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
