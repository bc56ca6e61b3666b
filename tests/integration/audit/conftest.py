"""Helpers for the audit tests, and their ``db``: the reference host, not the SCIM server's Database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from audit import Actor, EventDraft, RequestContext, Target
from tests.integration.audit.reference_host import ReferenceHost


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


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[ReferenceHost]:
    """Audit's schema with nothing recorded yet, on each engine, behind the reference host: audit's
    tests need a host, not the SCIM server (tests about the server's write path ask for it)."""
    host = ReferenceHost(database_url)
    await host.create_schema()
    try:
        yield host
    finally:
        await host.dispose()
