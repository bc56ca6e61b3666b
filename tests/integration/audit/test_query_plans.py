"""The filtered queries use the indexes built for them (a mismatch would only show at scale)."""

from __future__ import annotations

from sqlalchemy import text

from audit import Relay, record_many
from audit.query.filters import EventFilter, _queries
from tests.integration.audit.conftest import provisioned
from tests.integration.audit.reference_host import ReferenceHost


async def _populate(db: ReferenceHost, count: int = 1500) -> None:
    async with db.write() as conn:
        await record_many(conn, [provisioned(f"person{i}@acme.example") for i in range(count)])
    await Relay(db).drain()
    async with db.write() as conn:
        await conn.execute(text("ANALYZE"))


async def _plan(db: ReferenceHost, f: EventFilter) -> str:
    """The plans of every query the filter runs, one after the other."""
    plans = []
    async with db.read() as conn:
        for query in await _queries(conn, "acme", f, newest_first=True):
            compiled = query.limit(100).compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
            if db.dialect == "sqlite":
                rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
                plans.append("\n".join(str(r[3]) for r in rows))
            else:
                plans.append("\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN {compiled}"))))
    return "\n--\n".join(plans)


async def test_free_text_uses_the_full_text_index(db: ReferenceHost) -> None:
    await _populate(db)
    plan = await _plan(db, EventFilter(text="person42@acme.example"))
    assert (
        ("audit_events_fts VIRTUAL TABLE INDEX" in plan)
        if db.dialect == "sqlite"
        else ("ix_audit_events_search" in plan)
    ), plan


async def test_a_filtered_page_walks_an_index_in_sequence_order_without_sorting(db: ReferenceHost) -> None:
    await _populate(db)
    f = EventFilter(since="2026-10-23T00:00:00.000Z", categories=("scim_provisioning",), actor="okta-prod")
    plan = await _plan(db, f)
    assert ("TEMP B-TREE" not in plan) if db.dialect == "sqlite" else ("Sort" not in plan), plan


async def test_a_target_filter_needs_no_sort_and_no_scan_of_the_log(db: ReferenceHost) -> None:
    await _populate(db)
    plan = await _plan(db, EventFilter(target="person42@acme.example"))
    if db.dialect == "sqlite":
        indexed, recent = plan.split("\n--\n")[::-1]
        assert "audit_events_fts_targets VIRTUAL TABLE INDEX" in indexed and "TEMP B-TREE" not in indexed, plan
        # The events not yet in the full-text index, walked by pk from the watermark.
        assert "USING INTEGER PRIMARY KEY (rowid>?)" in recent and "TEMP B-TREE" not in recent, plan
    else:
        assert "ix_audit_events_org_target_seq" in plan and "Sort" not in plan, plan
