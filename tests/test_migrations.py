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


#: Declared with ``ddl_if(dialect="postgresql")``, which autogenerate does not read.
_POSTGRESQL_ONLY = {"ix_audit_events_org_target_seq"}


def _diff(sync_conn: Any) -> list[Any]:
    skipped = _RAW_DDL | (_POSTGRESQL_ONLY if sync_conn.dialect.name != "postgresql" else set())

    def declared(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (name and (name in skipped or name.startswith("audit_events_fts_")))

    context = MigrationContext.configure(sync_conn, opts={"compare_type": True, "include_object": declared})
    return compare_metadata(context, metadata)


async def test_upgrade_matches_the_models_and_is_repeatable(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # a second start finds nothing to do
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            assert version == "0004"
            guard = (await conn.execute(text("SELECT count(*) FROM audit_purge_guard"))).scalar_one()
            assert guard == 1
            if conn.dialect.name == "sqlite":  # target filters go through FTS5 there (0003)
                names = (await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))).scalars()
                assert _POSTGRESQL_ONLY.isdisjoint(names)
    finally:
        await engine.dispose()
