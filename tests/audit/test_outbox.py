"""The transactional outbox: same transaction as the change, never failing it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def _breaking_last(build: Callable[[EventDraft], dict[str, Any]], count: int) -> Callable[[EventDraft], dict[str, Any]]:
    """A row builder whose ``count``-th row has no organisation, so that the insert fails (NOT NULL)."""
    calls = iter(range(count))

    def row(draft: EventDraft) -> dict[str, Any]:
        built = build(draft)
        return {**built, "organization": None} if next(calls) == count - 1 else built

    return row


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


@pytest.mark.parametrize("events", [1, 2, 1500])
async def test_a_failing_insert_undoes_only_itself(db: Database, monkeypatch: pytest.MonkeyPatch, events: int) -> None:
    await _setup(db)
    before = _failures()
    async with db.write() as conn:
        await record(conn, provisioned("first@acme.example"))
        await conn.execute(insert(_widgets).values(name="w"))
        original = audit.outbox._row
        # The broken row is the last: rows before it must not stay behind either.
        drafts = [provisioned(f"n{i}@acme.example") for i in range(events)]
        monkeypatch.setattr(audit.outbox, "_row", _breaking_last(original, events))
        await record_many(conn, drafts)
        monkeypatch.undo()
        await conn.execute(insert(_widgets).values(name="after"))
    assert await _counts(db) == (2, 1)
    assert _failures() == before + events
