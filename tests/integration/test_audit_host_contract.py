"""The SCIM server's Database passes the audit host contract, on both engines (group commit included)."""

from __future__ import annotations

import pytest

from audit.testing.contract import AuditHostContract
from scim_server.storage import Database


class TestDatabase(AuditHostContract):
    @pytest.fixture
    def audit_host(self, db: Database) -> Database:
        return db
