"""Initial schema.

DEVELOPMENT PLACEHOLDER: creates the tables from the metadata while the first release's schema is
being settled in this session; it is replaced by explicit operations before the session ends.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

import audit
from scim_server.storage.tables import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind)
    audit.install_triggers(bind)


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
