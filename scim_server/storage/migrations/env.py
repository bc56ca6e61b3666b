"""Alembic environment: always handed a live connection by ``upgrade``; no URL of its own."""

from __future__ import annotations

from alembic import context

import audit  # noqa: F401  (registers the audit tables on the shared metadata)
from scim_server.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when alembic's CLI is pointed here
    raise RuntimeError("run migrations through scim_server.storage.migrations.upgrade()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
