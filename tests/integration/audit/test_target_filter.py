"""Filtering by target: exact names only, and events seen as soon as they are sealed.

On SQLite the filter takes its candidates from the full-text index, which takes in sealed
events about a second behind the sealer; these tests seal without indexing to hold events in
that gap and check they are found all the same, in order, across pages and in exports.
"""

from __future__ import annotations

import pytest

from audit import Actor, EventDraft, Relay, RequestContext, Target, record_many
from audit.backends import seal_pending
from audit.query import EventFilter, QueryError, iter_batches, search_page
from audit.query.export import count_matching
from tests.integration.audit.conftest import provisioned
from tests.integration.audit.reference_host import ReferenceHost

_CONTEXT = RequestContext(ip="203.0.113.7", user_agent="Okta SCIM Client", request_id="req_1")


def _added(group: str, email: str) -> EventDraft:
    return EventDraft(
        "acme",
        "group.member_added",
        Actor("scim_token", "okta-prod"),
        (Target("group", group), Target("user", email)),
        _CONTEXT,
    )


async def _seal_without_indexing(db: ReferenceHost, drafts: list[EventDraft]) -> None:
    async with db.write() as conn:
        await record_many(conn, drafts)
    async with db.write() as conn:
        assert (await seal_pending(conn, limit=1000)).count == len(drafts)


async def _all_pages(db: ReferenceHost, f: EventFilter, limit: int) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        async with db.read() as conn:
            page = await search_page(conn, "acme", f, limit=limit, cursor=cursor)
        seen += [e.sequence for e in page.events]
        if (cursor := page.next_cursor) is None:
            return seen


async def test_target_filter_matches_exact_names_indexed_or_not(db: ReferenceHost) -> None:
    jane = "jane.doe@acme.example"
    indexed = [
        provisioned(jane),
        provisioned("doe@acme.example"),
        provisioned("jane.doe@acme.example.org"),
        _added("Engineering", jane),
        provisioned(jane, title="x"),
        provisioned("globex", organization="globex"),
    ]
    async with db.write() as conn:
        await record_many(conn, indexed)
    await Relay(db, holder="test").drain()
    # Sequences 1-5 are indexed; 6-9 are sealed but not yet in the full-text index.
    await _seal_without_indexing(
        db,
        [
            provisioned(jane),
            provisioned("someone@acme.example"),
            provisioned(jane),
            _added("jane.doe@acme.example", "x@acme.example"),
        ],
    )

    f = EventFilter(target=jane)
    expected = [9, 8, 6, 5, 1]  # 9: a group that happens to bear the name; 4: jane is its second target
    for limit in (1, 2, 3, 100):
        assert await _all_pages(db, f, limit) == expected
    async with db.read() as conn:
        assert await count_matching(conn, "acme", f) == len(expected)
    exported = [e.sequence async for batch in iter_batches(db, "acme", f, batch_size=2) for e in batch]
    assert exported == expected[::-1]

    assert await _all_pages(db, EventFilter(target="Engineering"), 10) == [4]
    assert await _all_pages(db, EventFilter(target="JANE.DOE@acme.example"), 10) == []  # exact, as stored
    assert await _all_pages(db, EventFilter(target="acme.example"), 10) == []  # a phrase inside is not the name
    assert await _all_pages(db, EventFilter(target=jane, actions=("user.provisioned",)), 10) == [8, 6, 5, 1]
    assert await _all_pages(db, EventFilter(target=jane, text="title"), 10) == [5]
    assert await _all_pages(db, EventFilter(target="globex"), 10) == []  # another organisation's event

    await Relay(db, holder="test").drain()  # once indexed, the same answers
    assert await _all_pages(db, f, 2) == expected


async def test_a_target_name_without_words_is_still_found(db: ReferenceHost) -> None:
    await _seal_without_indexing(db, [provisioned("+++"), provisioned("jane@acme.example")])
    await Relay(db, holder="test").drain()
    await _seal_without_indexing(db, [provisioned("+++")])
    assert await _all_pages(db, EventFilter(target="+++"), 1) == [3, 1]


async def test_names_that_cannot_be_stored_match_nothing_or_are_refused(db: ReferenceHost) -> None:
    await _seal_without_indexing(db, [provisioned("jane@acme.example")])
    await Relay(db, holder="test").drain()
    with pytest.raises(QueryError, match="not valid UTF-8"):  # a command line's undecodable bytes
        EventFilter.from_params({"target": ["jane\udc80@acme.example"]})
    assert await _all_pages(db, EventFilter(target='jane" OR "x'), 10) == []  # FTS5 syntax is just text
