"""The transactional outbox: same transaction as the change, never failing it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

import audit.outbox
from audit import Actor, EventDraft, record, record_many
from audit.metrics import REGISTRY
from audit.tables import OutboxRow
from scim_server.storage import Database, create_engine, upgrade
from tests.integration.audit.conftest import provisioned
from tests.integration.audit.reference_host import ReferenceHost

_outbox = OutboxRow.__table__
_widgets = Table("widgets", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(50)))


def _failures() -> float:
    return REGISTRY.get_sample_value("scimtrail_audit_record_failures_total") or 0.0


def _breaking(build: Callable[[EventDraft], dict[str, Any]], target: str) -> Callable[[EventDraft], dict[str, Any]]:
    """A row builder whose row for ``target`` has no organisation, so that its insert fails (NOT NULL)."""

    def row(draft: EventDraft) -> dict[str, Any]:
        built = build(draft)
        return {**built, "organization": None} if draft.targets[0].name == target else built

    return row


@pytest.fixture
async def scim_db(database_url: str) -> AsyncIterator[Database]:
    """The SCIM server's Database, for what is about its write path (SQLite group commit)."""
    engine = create_engine(database_url)
    await upgrade(engine)
    database = Database(engine)
    try:
        yield database
    finally:
        await database.dispose()


async def _setup(db: ReferenceHost | Database) -> None:
    async with db.write() as conn:
        await conn.run_sync(_widgets.metadata.create_all)


async def _counts(db: ReferenceHost | Database) -> tuple[int, int]:
    async with db.read() as conn:
        widgets = (await conn.execute(select(func.count()).select_from(_widgets))).scalar_one()
        events = (await conn.execute(select(func.count()).select_from(_outbox))).scalar_one()
    return widgets, events


async def test_event_commits_with_the_change(db: ReferenceHost) -> None:
    await _setup(db)
    async with db.write() as conn:
        await conn.execute(insert(_widgets).values(name="w"))
        await record(conn, provisioned("jane@acme.example"))
    assert await _counts(db) == (1, 1)
    async with db.read() as conn:
        payload = (await conn.execute(select(_outbox.c.payload))).scalar_one()
    assert payload["action"] == "user.provisioned"
    assert payload["targets"] == [{"type": "user", "name": "jane@acme.example"}]


async def test_rolled_back_change_leaves_no_event(db: ReferenceHost) -> None:
    await _setup(db)
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await conn.execute(insert(_widgets).values(name="w"))
            await record(conn, provisioned("jane@acme.example"))
            raise RuntimeError("the SCIM change failed after recording")
    assert await _counts(db) == (0, 0)


async def test_a_failing_event_does_not_fail_the_change(db: ReferenceHost) -> None:
    await _setup(db)
    before = _failures()
    unknown_action = EventDraft("acme", "user.teleported", Actor("scim_token", "okta-prod"))
    async with db.write() as conn:
        await conn.execute(insert(_widgets).values(name="w"))
        await record(conn, unknown_action)
    assert await _counts(db) == (1, 0)
    assert _failures() == before + 1


@pytest.mark.parametrize("events", [1, 2, 1500])
async def test_a_failing_insert_undoes_only_itself(
    db: ReferenceHost, monkeypatch: pytest.MonkeyPatch, events: int
) -> None:
    await _setup(db)
    before = _failures()
    # The broken row is the last: rows before it must not stay behind either. (On SQLite the
    # rows are built when the unit's batch commits, so the breakage stays in place until then.)
    monkeypatch.setattr(audit.outbox, "_row", _breaking(audit.outbox._row, f"n{events - 1}@acme.example"))
    async with db.write() as conn:
        await record(conn, provisioned("first@acme.example"))
        await conn.execute(insert(_widgets).values(name="w"))
        await record_many(conn, [provisioned(f"n{i}@acme.example") for i in range(events)])
        await conn.execute(insert(_widgets).values(name="after"))
    assert await _counts(db) == (2, 1)
    assert _failures() == before + events


async def test_units_committed_together_keep_their_own_events(
    scim_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent units share one COMMIT on SQLite, and their events are written together just
    before it: a unit that rolls back still takes only its own events along, and an event that
    cannot be built or inserted costs only its own unit's events, never another's or a change."""
    await _setup(scim_db)
    before = _failures()
    monkeypatch.setattr(audit.outbox, "_row", _breaking(audit.outbox._row, "u4@acme.example"))

    async def unit(n: int) -> str:
        try:
            async with scim_db.write() as conn:
                await conn.execute(insert(_widgets).values(name=f"w{n}"))
                if n == 2:
                    await record(conn, EventDraft("acme", "user.teleported", Actor("scim_token", "okta-prod")))
                else:
                    await record_many(conn, [provisioned(f"u{n}@acme.example"), provisioned(f"v{n}@acme.example")])
                if n == 6:
                    raise RuntimeError("the change failed after recording")
        except RuntimeError:
            return "rolled back"
        return "committed"

    results = await asyncio.gather(*(unit(n) for n in range(8)))

    assert results == ["committed"] * 6 + ["rolled back", "committed"]
    async with scim_db.read() as conn:
        widgets = (await conn.execute(select(_widgets.c.name).order_by(_widgets.c.name))).scalars().all()
        targets = sorted(
            p["targets"][0]["name"] for p in (await conn.execute(select(_outbox.c.payload))).scalars().all()
        )
    assert widgets == [f"w{n}" for n in range(8) if n != 6]
    # Unit 2's event could not be built and unit 4's could not be inserted (both of its events go:
    # one record_many call is all or nothing); unit 6 rolled back.
    assert targets == sorted(f"{p}{n}@acme.example" for n in (0, 1, 3, 5, 7) for p in "uv")
    assert _failures() == before + 1 + 2
