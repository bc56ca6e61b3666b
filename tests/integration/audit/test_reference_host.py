"""The reference host passes the audit host contract, on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from audit.testing.contract import AuditHostContract
from tests.integration.audit.reference_host import ReferenceHost


class TestReferenceHost(AuditHostContract):
    @pytest.fixture
    async def audit_host(self, database_url: str) -> AsyncIterator[ReferenceHost]:
        host = ReferenceHost(database_url)
        await host.create_schema()
        try:
            yield host
        finally:
            await host.dispose()
