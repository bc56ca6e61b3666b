"""The transactional outbox: same transaction as the change, never failing it."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

import audit.outbox
from audit import Actor, EventDraft, record, record_many
from audit.metrics import REGISTRY
from audit.tables import OutboxRow
from scim_server.storage.engine import Database
from tests.audit.conftest import provisioned

_outbox = OutboxRow.__table__
_widgets = Table("widgets", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(50)))


def _failures() -> float:
    return REGISTRY.get_sample_value("scimtrail_audit_record_failures_total") or 0.0


async def _setup(db: Database) -> None:
    async with db.write() as conn:
        await conn.run_sync(_widgets.metadata.create_all)


async def _counts(db: Database) -> tuple[int, int]:
    async with db.read() as conn:
        widgets = (await conn.execute(select(func.count()).select_from(_widgets))).scalar_one()
        events = (await conn.execute(select(func.count()).select_from(_outbox))).scalar_one()
    return widgets, events


async def test_event_commits_with_the_change(db: Database) -> None:
    await _setup(db)
    async with db.write() as conn:
        await conn.execute(insert(_widgets).values(name="w"))
        await record(conn, provisioned("jane@acme.example"))
    assert await _counts(db) == (1, 1)
    async with db.read() as conn:
        payload = (await conn.execute(select(_outbox.c.payload))).scalar_one()
    assert payload["action"] == "user.provisioned"
    assert payload["targets"] == [{"type": "user", "name": "jane@acme.example"}]


async def test_rolled_back_change_leaves_no_event(db: Database) -> None:
    await _setup(db)
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await conn.execute(insert(_widgets).values(name="w"))
            await record(conn, provisioned("jane@acme.example"))
            raise RuntimeError("the SCIM change failed after recording")
    assert await _counts(db) == (0, 0)


async def test_a_failing_event_does_not_fail_the_change(db: Database) -> None:
    await _setup(db)
    before = _failures()
    unknown_action = EventDraft("acme", "user.teleported", Actor("scim_token", "okta-prod"))
    async with db.write() as conn:
        await conn.execute(insert(_widgets).values(name="w"))
        await record(conn, unknown_action)
    assert await _counts(db) == (1, 0)
    assert _failures() == before + 1


async def test_a_failing_insert_rolls_back_only_its_savepoint(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    await _setup(db)
    before = _failures()
    async with db.write() as conn:
        await record(conn, provisioned("first@acme.example"))
        event_id = (await conn.execute(select(_outbox.c.event_id))).scalar_one()
        # A duplicate event id makes the outbox insert itself fail.
        await conn.execute(insert(_widgets).values(name="w"))
        original = audit.outbox._row
        monkeypatch.setattr(audit.outbox, "_row", lambda d: {**original(d), "event_id": event_id})
        await record_many(conn, [provisioned("second@acme.example"), provisioned("third@acme.example")])
        monkeypatch.undo()
        await conn.execute(insert(_widgets).values(name="after"))
    assert await _counts(db) == (2, 1)
    assert _failures() == before + 2
