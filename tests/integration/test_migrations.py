"""The migrations build exactly the schema the code declares, and the schema objects it cannot."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from audit import Relay, record_many  # importing audit registers its tables
from audit import search_index as index
from audit.backends import seal_pending
from audit.query import EventFilter, search_page
from scim_server.storage import create_engine, metadata, upgrade
from scim_server.storage.engine import Database
from tests.integration.audit.conftest import provisioned

#: Created by raw DDL in the migration (full-text search), so the models do not declare them.
_RAW_DDL = {"ix_audit_events_search", "audit_events_fts"}


#: Declared with ``ddl_if(dialect="postgresql")``, which autogenerate does not read.
_POSTGRESQL_ONLY = {"ix_audit_events_org_target_seq"}


#: On SQLite these live in the log's own file (0005), which autogenerate does not reflect; the
#: write-lock table is raw DDL there too.
_SQLITE_LOG_TABLES = {"audit_events", "audit_chains", "audit_checkpoints", "audit_purge_guard"}
_SQLITE_ONLY = {"scimtrail_write_lock"}


def _diff(sync_conn: Any) -> list[Any]:
    skipped = _RAW_DDL | (_POSTGRESQL_ONLY if sync_conn.dialect.name != "postgresql" else set())
    if sync_conn.dialect.name == "sqlite":
        skipped |= (
            _SQLITE_LOG_TABLES
            | _SQLITE_ONLY
            | {i.name for t in _SQLITE_LOG_TABLES for i in metadata.tables[t].indexes if i.name}
        )

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
            assert version == "0005"
            guard = (await conn.execute(text("SELECT count(*) FROM audit_purge_guard"))).scalar_one()
            assert guard == 1
            if conn.dialect.name == "sqlite":  # target filters go through FTS5 there (0003)
                names = (await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))).scalars()
                assert _POSTGRESQL_ONLY.isdisjoint(names)
                # The log is in its own file (0005), with its indexes and triggers, and only there.
                log = {
                    (r.type, r.name) for r in await conn.execute(text("SELECT type, name FROM audit_log.sqlite_master"))
                }
                main = set((await conn.execute(text("SELECT name FROM main.sqlite_master"))).scalars())
                for table in _SQLITE_LOG_TABLES | {"audit_events_fts", "audit_events_fts_targets", "audit_seal_state"}:
                    assert ("table", table) in log and table not in main
                for index_name in ("ix_audit_events_org_time", "ix_audit_events_org_actor_seq"):
                    assert ("index", index_name) in log
                assert {("trigger", "audit_events_no_update"), ("trigger", "audit_events_guarded_delete")} <= log
    finally:
        await engine.dispose()


async def _seal_as_before_0005(conn: Any) -> None:
    """Seal the way the relay did before 0005: in the main file, deleting what it sealed from the
    outbox. Today's sealer keeps a watermark in the log's file instead, which a 0002 schema lacks:
    it is lent one in the main file for the call."""
    if conn.dialect.name != "sqlite":
        await seal_pending(conn)
        return
    await conn.execute(text("CREATE TABLE audit_seal_state (id INTEGER PRIMARY KEY, outbox_through INTEGER NOT NULL)"))
    await conn.execute(text("INSERT INTO audit_seal_state VALUES (1, 0)"))
    await seal_pending(conn)
    await conn.execute(text("DELETE FROM audit_outbox WHERE pk <= (SELECT outbox_through FROM audit_seal_state)"))
    await conn.execute(text("DROP TABLE audit_seal_state"))


async def test_a_log_from_before_0003_keeps_its_events_and_its_target_filter(database_url: str) -> None:
    """0003, 0004 and 0005 on a database in use: sealed and indexed events, sealed but not yet
    indexed ones, and events still in the outbox all come through (on SQLite into the log's own
    file), and target filters find them all."""
    engine = create_engine(database_url)
    await upgrade(engine, "0002")
    db = Database(engine)
    try:
        async with db.write() as conn:
            await record_many(conn, [provisioned("jane@acme.example"), provisioned("john@acme.example")])
        async with db.write() as conn:
            await _seal_as_before_0005(conn)
            if conn.dialect.name == "sqlite":  # what 0002's relay did once a second
                await conn.execute(index._INDEX, {"through": 0, "upto": 2})
                await conn.execute(index._ADVANCE, {"upto": 2})
        async with db.write() as conn:
            await record_many(conn, [provisioned("jane@acme.example")])
        async with db.write() as conn:
            await _seal_as_before_0005(conn)  # sealed, not indexed
        async with db.write() as conn:
            await record_many(conn, [provisioned("jane@acme.example")])  # still in the outbox
        await db.dispose()

        engine = create_engine(database_url)
        await upgrade(engine)
        db = Database(engine)

        async def jane() -> list[int]:
            async with db.read() as conn:
                page = await search_page(conn, "acme", EventFilter(target="jane@acme.example"), limit=10)
            return [e.sequence for e in page.events]

        assert await jane() == [3, 1]
        assert await Relay(db, holder="test").drain() == 1  # the outbox row kept through the rebuild
        assert await jane() == [4, 3, 1]
        if db.dialect == "sqlite":
            async with db.read() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM audit_log.audit_events"))).scalar_one() == 4
                assert (
                    await conn.execute(text("SELECT count(*) FROM audit_log.audit_events_fts_state"))
                ).scalar_one() == 1
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO audit_events_fts(audit_events_fts) VALUES ('integrity-check')"))
                await conn.execute(
                    text("INSERT INTO audit_events_fts_targets(audit_events_fts_targets) VALUES ('integrity-check')")
                )
    finally:
        await db.dispose()
