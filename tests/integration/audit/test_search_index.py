"""Free-text search over sealed events: indexed in bulk behind the sealer, never out of step."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from audit import Relay, purge_expired, record_many
from audit.query import EventFilter, search_page
from audit.search_words import search_words
from tests.integration.audit.conftest import provisioned
from tests.integration.audit.reference_host import ReferenceHost


async def _found(db: ReferenceHost, words: str) -> list[str]:
    async with db.read() as conn:
        page = await search_page(conn, "acme", EventFilter(text=words), limit=100)
    return [e.as_dict()["targets"][0]["name"] for e in page.events]


async def _targeted(db: ReferenceHost, name: str) -> list[int]:
    async with db.read() as conn:
        page = await search_page(conn, "acme", EventFilter(target=name), limit=100)
    return [e.sequence for e in page.events]


async def _fts_intact(db: ReferenceHost) -> None:
    if db.dialect == "sqlite":
        async with db.write() as conn:  # raises "database disk image is malformed" if out of step
            for index in ("audit_events_fts", "audit_events_fts_targets"):
                await conn.execute(text(f"INSERT INTO {index}({index}) VALUES ('integrity-check')"))


async def test_the_running_relay_makes_new_events_searchable_within_seconds(db: ReferenceHost) -> None:
    relay = Relay(db, index_interval=0.2)
    await relay.start()
    try:
        async with db.write() as conn:
            await record_many(conn, [provisioned("zoe.findme@acme.example"), provisioned("bob@acme.example")])
        for _ in range(100):
            if await _found(db, "findme"):
                break
            await asyncio.sleep(0.05)
        assert await _found(db, "findme") == ["zoe.findme@acme.example"]
    finally:
        await relay.stop()
    await _fts_intact(db)


async def test_events_sealed_after_a_purge_emptied_the_log_are_indexed_and_purged_cleanly(db: ReferenceHost) -> None:
    # SQLite numbers a new row max(pk) + 1: once the purge removes the newest rows, new events
    # reuse pks the index has already seen. They must still be indexed, and purging them later
    # must not take from the index entries it never held.
    now = datetime.now(UTC)
    old = [replace(provisioned(f"old{i}@acme.example"), occurred_at=now - timedelta(days=200)) for i in range(5)]
    async with db.write() as conn:
        await record_many(conn, old)
    relay = Relay(db, holder="test")
    await relay.drain()
    assert len(await _found(db, "old0")) == 1
    assert await _targeted(db, "old0@acme.example") == [1]

    await purge_expired(db, now=now)
    await relay.drain()  # seals the audit_log.purged event
    assert await _found(db, "old0") == []
    assert await _targeted(db, "old0@acme.example") == []

    again = [replace(provisioned(f"new{i}@acme.example"), occurred_at=now - timedelta(days=200)) for i in range(5)]
    async with db.write() as conn:
        await record_many(conn, again)
    await relay.drain()
    assert await _found(db, "new3") == ["new3@acme.example"]
    assert await _targeted(db, "new3@acme.example") == [10]  # 6 is the purge's own event
    await _fts_intact(db)

    await purge_expired(db, now=now + timedelta(days=400))  # everything is past retention now
    await relay.drain()
    assert await _found(db, "new3") == []
    assert await _targeted(db, "new3@acme.example") == []
    await _fts_intact(db)


def _words_by_regex(event: dict[str, object]) -> str:
    """What search_words is defined as: every run of non-word characters one space, lower case."""
    text = " ".join(
        [event["actor"]["name"], event["action"], event["category"]]  # type: ignore[index]
        + [f"{t['type']} {t['name']}" for t in event["targets"]]
    )  # type: ignore[attr-defined]
    return re.sub(r"[^\w]+", " ", text).strip().lower()


_any_text = st.one_of(st.text(max_size=40), st.text(alphabet=st.characters(max_codepoint=127), max_size=40))


@settings(max_examples=3000, deadline=None)
@given(actor=_any_text, names=st.lists(_any_text, max_size=3))
def test_search_words_ascii_shortcut_agrees_with_the_regex(actor: str, names: list[str]) -> None:
    """ASCII text takes a byte-table shortcut; it must give what the regex gives, case and all."""
    event = {
        "actor": {"name": actor},
        "action": "user.provisioned",
        "category": "scim_provisioning",
        "targets": [{"type": "user", "name": n} for n in names],
        "metadata": {},
    }
    assert search_words(event) == _words_by_regex(event)
