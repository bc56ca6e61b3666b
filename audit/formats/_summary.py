"""A one-line, human-readable description of an event, shared by the formats that need one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["summarize", "target_names"]


def target_names(event: Mapping[str, Any]) -> list[str]:
    return [str(t.get("name", "")) for t in event.get("targets") or ()]


def summarize(event: Mapping[str, Any]) -> str:
    """``okta-prod: user.provisioned jane@acme.example`` — actor, action, targets."""
    actor = (event.get("actor") or {}).get("name", "unknown")
    targets = ", ".join(target_names(event))
    line = f"{actor}: {event.get('action', '')}"
    return f"{line} {targets}" if targets else line
