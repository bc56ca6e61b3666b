"""Helpers for the audit tests (the migrated `db` fixture is in tests/conftest.py)."""

from __future__ import annotations

from audit import Actor, EventDraft, RequestContext, Target


def provisioned(email: str, organization: str = "acme", **metadata: object) -> EventDraft:
    """A ``user.provisioned`` event as the SCIM service would describe it."""
    return EventDraft(
        organization=organization,
        action="user.provisioned",
        actor=Actor("scim_token", "okta-prod"),
        targets=(Target("user", email),),
        context=RequestContext(ip="203.0.113.7", user_agent="Okta SCIM Client", request_id="req_1"),
        metadata=metadata,
    )
