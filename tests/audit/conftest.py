"""Fixtures for the audit tests: a migrated database on each backend, and event helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from audit import Actor, EventDraft, RequestContext, Target
from scim_server.storage.engine import Database, create_engine
from scim_server.storage.migrations import upgrade


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    engine = create_engine(database_url)
    await upgrade(engine)
    database = Database(engine)
    try:
        yield database
    finally:
        await database.dispose()


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
