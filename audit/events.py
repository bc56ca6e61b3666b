"""The audit event: what happened, to whom, by whom, in which organisation (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .ids import new_ulid

__all__ = [
    "CATALOGUE",
    "Actor",
    "Target",
    "RequestContext",
    "EventDraft",
    "category_of",
    "new_event_id",
    "format_timestamp",
]

#: category → actions. An action outside this table is refused when an event is built.
CATALOGUE: Mapping[str, tuple[str, ...]] = {
    "scim_provisioning": (
        "user.provisioned",
        "user.updated",
        "user.deprovisioned",
        "user.reactivated",
        "user.deleted",
        "group.created",
        "group.updated",
        "group.deleted",
        "group.member_added",
        "group.member_removed",
    ),
    "scim_credentials": (
        "scim_token.created",
        "scim_token.revoked",
        "scim_token.expired",
        "oauth_client.created",
        "oauth_client.secret_rotated",
        "oauth_client.revoked",
        "oauth_token.issued",
    ),
    "administration": (
        "admin_key.created",
        "admin_key.revoked",
        "log_stream.created",
        "log_stream.updated",
        "log_stream.deleted",
        "log_stream.disabled",
        "retention_policy.updated",
        "audit_log.exported",
        "audit_log.purged",
    ),
    "authentication": ("credential.rejected",),
}

_CATEGORY_BY_ACTION: dict[str, str] = {a: c for c, actions in CATALOGUE.items() for a in actions}


def category_of(action: str) -> str:
    try:
        return _CATEGORY_BY_ACTION[action]
    except KeyError:
        raise ValueError(f"unknown audit action {action!r}") from None


def new_event_id() -> str:
    return f"evt_{new_ulid()}"


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, the one timestamp format events use."""
    # isoformat, not strftime or an f-string of the fields: it is C, and this runs for every
    # event. Milliseconds are truncated, and the first 23 characters end with them.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:23] + "Z"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: ``type`` is the credential kind (scim_token, oauth_client, admin, auditor, system)."""

    type: str
    name: str


@dataclass(frozen=True, slots=True)
class Target:
    """What was acted on, by its customer-facing name (an email, a group's display name, a slug)."""

    type: str
    name: str


@dataclass(frozen=True, slots=True)
class RequestContext:
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event as the business code describes it, before redaction, sealing and numbering."""

    organization: str
    action: str
    actor: Actor
    targets: Sequence[Target] = ()
    context: RequestContext = field(default_factory=RequestContext)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: When it happened: now, by default. It may lag the recording by minutes (an aggregation
    #: window) but not by a day: time filters rely on sequences following time that closely.
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
