"""Customer-facing names of SCIM resources, as audit targets: an email for a user, a displayName for a group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import audit

__all__ = ["user_target", "group_target", "target_for"]


def _email(data: Mapping[str, Any]) -> str | None:
    emails = [e for e in data.get("emails") or () if isinstance(e, Mapping) and isinstance(e.get("value"), str)]
    for e in emails:
        if e.get("primary") is True:
            return str(e["value"])
    for e in emails:
        if str(e.get("type", "")).lower() == "work":
            return str(e["value"])
    return str(emails[0]["value"]) if emails else None


def user_target(data: Mapping[str, Any]) -> audit.Target:
    """The user's email; its userName (what the IdP and the customer know it by) when it has none."""
    return audit.Target(type="user", name=_email(data) or str(data.get("userName", "")))


def group_target(data: Mapping[str, Any]) -> audit.Target:
    return audit.Target(type="group", name=str(data.get("displayName", "")))


def target_for(resource_type: str, data: Mapping[str, Any]) -> audit.Target:
    return user_target(data) if resource_type == "User" else group_target(data)
