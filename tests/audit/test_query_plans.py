"""The filtered queries use the indexes built for them (a mismatch would only show at scale)."""

from __future__ import annotations

from sqlalchemy import text

from audit import Relay, record_many
from audit.query.filters import EventFilter, _base_query
from scim_server.storage.engine import Database
from tests.audit.conftest import provisioned


async def _populate(db: Database, count: int = 1500) -> None:
    async with db.write() as conn:
        await record_many(conn, [provisioned(f"person{i}@acme.example") for i in range(count)])
    await Relay(db).drain()
    async with db.write() as conn:
        await conn.execute(text("ANALYZE"))


async def _plan(db: Database, f: EventFilter) -> str:
    async with db.read() as conn:
        query = await _base_query(conn, "acme", f, newest_first=True)
        compiled = query.limit(100).compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
        if db.dialect == "sqlite":
            rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            return "\n".join(str(r[3]) for r in rows)
        return "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN {compiled}")))


async def test_free_text_uses_the_full_text_index(db: Database) -> None:
    await _populate(db)
    plan = await _plan(db, EventFilter(text="person42@acme.example"))
    assert ("audit_events_fts VIRTUAL TABLE INDEX" in plan) if db.dialect == "sqlite" else ("ix_audit_events_search" in plan), plan


async def test_a_filtered_page_walks_an_index_in_sequence_order_without_sorting(db: Database) -> None:
    await _populate(db)
    f = EventFilter(since="2026-10-23T00:00:00.000Z", categories=("scim_provisioning",), actor="okta-prod")
    plan = await _plan(db, f)
    assert ("TEMP B-TREE" not in plan) if db.dialect == "sqlite" else ("Sort" not in plan), plan
