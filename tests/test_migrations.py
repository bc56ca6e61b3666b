"""The migrations build exactly the schema the code declares, and the schema objects it cannot."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

import audit  # noqa: F401  (registers the audit tables)
from scim_server.storage import create_engine, metadata, upgrade


#: Created by raw DDL in the migration (full-text search), so the models do not declare them.
_RAW_DDL = {"ix_audit_events_search", "audit_events_fts"}


def _declared(name: str | None, type_: str, parent_names: Any) -> bool:
    return not (name and (name in _RAW_DDL or name.startswith("audit_events_fts_")))


def _diff(sync_conn: Any) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True, "include_name": _declared})
    return compare_metadata(context, metadata)


async def test_upgrade_matches_the_models_and_is_repeatable(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # a second start finds nothing to do
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            assert version == "0002"
            guard = (await conn.execute(text("SELECT count(*) FROM audit_purge_guard"))).scalar_one()
            assert guard == 1
    finally:
        await engine.dispose()
