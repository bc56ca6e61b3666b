"""OCSF 1.8.0 (Identity & Access Management category), driven by one table per action.

Subjects carry customer-facing names only (emails, display names, slugs, labels) in ``name``;
``uid`` fields are never filled from internal identifiers. OCSF 1.9 replaces Account Change
(3001) with User Management (3007): moving is a matter of editing :data:`ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._summary import summarize

__all__ = ["ACTIONS", "CLASSES", "OCSF_VERSION", "encode_ocsf"]

OCSF_VERSION = "1.8.0"
_CATEGORY_UID = 3
_CATEGORY_NAME = "Identity & Access Management"

ACCOUNT_CHANGE = 3001
AUTHENTICATION = 3002
ENTITY_MANAGEMENT = 3004
GROUP_MANAGEMENT = 3006

#: class_uid → class name.
CLASSES: Mapping[int, str] = {
    ACCOUNT_CHANGE: "Account Change",
    AUTHENTICATION: "Authentication",
    ENTITY_MANAGEMENT: "Entity Management",
    GROUP_MANAGEMENT: "Group Management",
}


@dataclass(frozen=True, slots=True)
class _Mapping:
    class_uid: int
    activity_id: int
    activity_name: str
    failure: bool = False


#: action → OCSF class and activity (ids from the 1.8.0 schema's ``activity_id`` enums).
ACTIONS: Mapping[str, _Mapping] = {
    "user.provisioned": _Mapping(ACCOUNT_CHANGE, 1, "Create"),
    "user.updated": _Mapping(ACCOUNT_CHANGE, 99, "Other"),
    "user.deprovisioned": _Mapping(ACCOUNT_CHANGE, 5, "Disable"),
    "user.reactivated": _Mapping(ACCOUNT_CHANGE, 2, "Enable"),
    "user.deleted": _Mapping(ACCOUNT_CHANGE, 6, "Delete"),
    "group.created": _Mapping(GROUP_MANAGEMENT, 6, "Create"),
    "group.updated": _Mapping(GROUP_MANAGEMENT, 99, "Other"),
    "group.deleted": _Mapping(GROUP_MANAGEMENT, 5, "Delete"),
    "group.member_added": _Mapping(GROUP_MANAGEMENT, 3, "Add User"),
    "group.member_removed": _Mapping(GROUP_MANAGEMENT, 4, "Remove User"),
    "scim_token.created": _Mapping(ENTITY_MANAGEMENT, 1, "Create"),
    "scim_token.revoked": _Mapping(ENTITY_MANAGEMENT, 4, "Delete"),
    "scim_token.expired": _Mapping(ENTITY_MANAGEMENT, 11, "Deactivate"),
    "oauth_client.created": _Mapping(ENTITY_MANAGEMENT, 1, "Create"),
    "oauth_client.secret_rotated": _Mapping(ENTITY_MANAGEMENT, 3, "Update"),
    "oauth_client.revoked": _Mapping(ENTITY_MANAGEMENT, 4, "Delete"),
    "oauth_token.issued": _Mapping(AUTHENTICATION, 1, "Logon"),
    "admin_key.created": _Mapping(ENTITY_MANAGEMENT, 1, "Create"),
    "admin_key.revoked": _Mapping(ENTITY_MANAGEMENT, 4, "Delete"),
    "log_stream.created": _Mapping(ENTITY_MANAGEMENT, 1, "Create"),
    "log_stream.updated": _Mapping(ENTITY_MANAGEMENT, 3, "Update"),
    "log_stream.deleted": _Mapping(ENTITY_MANAGEMENT, 4, "Delete"),
    "log_stream.disabled": _Mapping(ENTITY_MANAGEMENT, 9, "Disable"),
    "retention_policy.updated": _Mapping(ENTITY_MANAGEMENT, 3, "Update"),
    "audit_log.exported": _Mapping(ENTITY_MANAGEMENT, 2, "Read"),
    "audit_log.purged": _Mapping(ENTITY_MANAGEMENT, 4, "Delete"),
    "credential.rejected": _Mapping(AUTHENTICATION, 1, "Logon", failure=True),
}

#: Our actor kinds → OCSF user ``type_id`` (1 User, 2 Admin, 3 System, 4 Service).
_USER_TYPES: Mapping[str, tuple[int, str]] = {
    "admin": (2, "Admin"),
    "auditor": (1, "User"),
    "system": (3, "System"),
    "scim_token": (4, "Service"),
    "oauth_client": (4, "Service"),
}

#: Our target kinds → managed_entity ``type_id`` (2 User, 3 Group, 4 Organization, 5 Policy).
_ENTITY_TYPES: Mapping[str, int] = {"user": 2, "group": 3, "organization": 4, "retention_policy": 5}


def _user(subject: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(subject.get("type", ""))
    type_id, type_name = _USER_TYPES.get(kind, (99, kind or "Other"))
    if kind == "user":
        type_id, type_name = 1, "User"
    user: dict[str, Any] = {"name": subject.get("name", ""), "type_id": type_id, "type": type_name}
    if kind == "user" and "@" in str(subject.get("name", "")):
        user["email_addr"] = subject["name"]
    return user


def _first(event: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((t for t in event.get("targets") or () if t.get("type") == kind), None)


def _account_subject(event: Mapping[str, Any]) -> dict[str, Any]:
    target = _first(event, "user") or (event.get("targets") or [{"type": "user", "name": ""}])[0]
    return {"user": _user(target)}


def _group_subject(event: Mapping[str, Any]) -> dict[str, Any]:
    group = _first(event, "group") or {"name": ""}
    subject: dict[str, Any] = {"group": {"name": group.get("name", "")}}
    if (member := _first(event, "user")) is not None:
        subject["user"] = _user(member)
    return subject


def _entity_subject(event: Mapping[str, Any]) -> dict[str, Any]:
    targets = event.get("targets") or ()
    target = targets[0] if targets else {"type": "organization", "name": event.get("organization", "")}
    kind = str(target.get("type", ""))
    return {"entity": {"name": target.get("name", ""), "type": kind, "type_id": _ENTITY_TYPES.get(kind, 99)}}


def _authentication_subject(event: Mapping[str, Any]) -> dict[str, Any]:
    # Who authenticated (or tried to): the credential named by the target, else the actor.
    targets = event.get("targets") or ()
    subject = targets[0] if targets else event.get("actor") or {}
    return {"user": _user(subject), "service": {"name": "scimtrail"}}


_SUBJECTS: Mapping[int, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    ACCOUNT_CHANGE: _account_subject,
    AUTHENTICATION: _authentication_subject,
    ENTITY_MANAGEMENT: _entity_subject,
    GROUP_MANAGEMENT: _group_subject,
}


def encode_ocsf(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as an OCSF 1.8.0 record; raises ``KeyError`` for an action outside the table."""
    rule = ACTIONS[event["action"]]
    class_name = CLASSES[rule.class_uid]
    actor = event.get("actor") or {}
    context = event.get("context") or {}
    record: dict[str, Any] = {
        "category_uid": _CATEGORY_UID,
        "category_name": _CATEGORY_NAME,
        "class_uid": rule.class_uid,
        "class_name": class_name,
        "activity_id": rule.activity_id,
        "activity_name": rule.activity_name,
        "type_uid": rule.class_uid * 100 + rule.activity_id,
        "type_name": f"{class_name}: {rule.activity_name}",
        "severity_id": 1,
        "severity": "Informational",
        "status_id": 2 if rule.failure else 1,
        "status": "Failure" if rule.failure else "Success",
        "time": int(datetime.fromisoformat(event["occurred_at"]).timestamp() * 1000),
        "message": summarize(event),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "scimtrail", "vendor_name": "scimtrail"},
            "tenant_uid": event.get("organization"),
            "uid": event.get("id"),
            "sequence": event.get("sequence"),
            "log_name": "audit",
            "original_time": event["occurred_at"],
        },
        "actor": {"user": _user(actor)},
        "unmapped": {
            "action": event["action"],
            "category": event.get("category"),
            "metadata": event.get("metadata") or {},
        },
    }
    if context.get("request_id"):
        record["metadata"]["correlation_uid"] = context["request_id"]
    if context.get("ip"):
        record["src_endpoint"] = {"ip": context["ip"]}
    if context.get("user_agent"):
        record["http_request"] = {"user_agent": context["user_agent"]}
    if rule.failure and (reason := (event.get("metadata") or {}).get("reason")):
        record["status_detail"] = str(reason)
    record.update(_SUBJECTS[rule.class_uid](event))
    return record
