"""What every host of the audit package must do, as tests a host's test suite runs.

Subclass :class:`AuditHostContract` in a test module and give it an ``audit_host`` fixture: an
:class:`audit.AuditHost` on a database with audit's schema (:mod:`audit.schema`) and nothing
recorded yet. Run it on each engine the host supports::

    class TestMyHost(AuditHostContract):
        @pytest.fixture
        async def audit_host(self, tmp_path):
            host = MyHost(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
            yield host
            await host.dispose()

The caller's change in these tests is a row in ``audit_retention``, a table audit's schema
always has: the contract needs no table of the host's. Needs pytest and pytest-asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import outbox
from ..backends import backend_for, prune_outbox, seal_pending
from ..chain import GENESIS_HASH, link_hash
from ..events import Actor, EventDraft, Target
from ..host import AuditHost, transaction_of
from ..log_reads import read_sealed
from ..outbox import after_commit, record, record_many
from ..relay import Relay
from ..tables import OUTBOX, RETENTION
from ..verification import verify

__all__ = ["AuditHostContract"]

_ACTOR = Actor("scim_token", "contract")


def _event(name: str, organization: str = "acme") -> EventDraft:
    return EventDraft(organization, "user.provisioned", _ACTOR, targets=(Target("user", name),))


async def _change(conn: AsyncConnection, organization: str) -> None:
    """The caller's own change, in the same transaction as its events."""
    await conn.execute(insert(RETENTION).values(organization=organization, days=90, updated_at="2026-01-01T00:00:00Z"))


async def _counts(host: AuditHost) -> tuple[int, int]:
    """(changes, events waiting in the outbox)."""
    async with host.read() as conn:
        changes = (await conn.execute(select(func.count()).select_from(RETENTION))).scalar_one()
        waiting = (
            await conn.execute(select(func.count()).select_from(OUTBOX).where(backend_for(conn).unsealed()))
        ).scalar_one()
    return changes, waiting


class AuditHostContract:
    """The contract; a subclass provides the ``audit_host`` fixture (see the module)."""

    @pytest.fixture
    def audit_host(self) -> AuditHost:
        raise NotImplementedError("a host's test module provides the audit_host fixture")

    async def test_events_commit_with_the_callers_transaction(self, audit_host: AuditHost) -> None:
        async with audit_host.write() as conn:
            await _change(conn, "acme")
            await record(conn, _event("jane@acme.example"))
        assert await _counts(audit_host) == (1, 1)

    async def test_events_roll_back_with_the_callers_transaction(self, audit_host: AuditHost) -> None:
        with pytest.raises(RuntimeError):
            async with audit_host.write() as conn:
                await _change(conn, "acme")
                await record(conn, _event("jane@acme.example"))
                raise RuntimeError("the caller's change failed after recording")
        assert await _counts(audit_host) == (0, 0)

    async def test_an_event_that_fails_never_fails_the_caller(
        self, audit_host: AuditHost, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        build = outbox._row

        def breaking(draft: EventDraft) -> dict[str, Any]:  # its insert fails: no organisation (NOT NULL)
            row = build(draft)
            return {**row, "organization": None} if draft.targets[0].name == "broken@acme.example" else row

        monkeypatch.setattr(outbox, "_row", breaking)
        async with audit_host.write() as conn:
            await _change(conn, "acme")
            await record(conn, EventDraft("acme", "user.teleported", _ACTOR))  # cannot be built
            await record_many(conn, [_event("fine@acme.example"), _event("broken@acme.example")])  # cannot be inserted
            await record(conn, _event("kept@acme.example"))
        assert await _counts(audit_host) == (1, 1)

    async def test_after_commit_callbacks_run_only_after_commit(self, audit_host: AuditHost) -> None:
        ran: list[str] = []
        observed: list[tuple[str, int]] = []

        def callback(name: str) -> Callable[[], None]:
            return lambda: ran.append(name)

        async with audit_host.write() as conn:
            await _change(conn, "acme")
            after_commit(conn, callback("committed"))
            observed.append(("inside", len(ran)))
        with pytest.raises(RuntimeError):
            async with audit_host.write() as conn:
                after_commit(conn, callback("rolled back"))
                raise RuntimeError("rolled back")
        assert observed == [("inside", 0)]
        assert ran == ["committed"]

    async def test_a_read_never_sees_a_writers_transaction(self, audit_host: AuditHost) -> None:
        """Connections are pooled: a host detaches what it attached before a connection goes back."""
        async with audit_host.write() as conn:
            assert transaction_of(conn) is not None
            await record(conn, _event("jane@acme.example"))
        for _ in range(3):
            async with audit_host.read() as conn:
                assert transaction_of(conn) is None

    async def test_concurrent_writers_keep_their_own_events(self, audit_host: AuditHost) -> None:
        """Units of work that commit together (a host's group commit) keep their own terms."""

        async def unit(n: int) -> None:
            async with audit_host.write() as conn:
                await _change(conn, f"org{n}")
                await record_many(conn, [_event(f"a{n}@acme.example"), _event(f"b{n}@acme.example")])
                if n == 3:
                    raise RuntimeError("this unit rolls back")

        outcomes = await asyncio.gather(*(unit(n) for n in range(8)), return_exceptions=True)
        assert [isinstance(o, RuntimeError) for o in outcomes] == [n == 3 for n in range(8)]
        assert await _counts(audit_host) == (7, 14)

    async def test_sealing_chains_each_organisation_in_recorded_order(self, audit_host: AuditHost) -> None:
        for i in range(3):
            async with audit_host.write() as conn:
                await record_many(conn, [_event(f"u{i}@acme.example"), _event(f"u{i}@globex.example", "globex")])
        assert await Relay(audit_host, holder="contract").drain() == 6
        async with audit_host.read() as conn:
            for organization in ("acme", "globex"):
                sealed = await read_sealed(conn, organization)
                assert [e.sequence for e in sealed] == [1, 2, 3]
                assert [e.as_dict()["targets"][0]["name"] for e in sealed] == [
                    f"u{i}@{organization}.example" for i in range(3)
                ]
                prev = GENESIS_HASH
                for e in sealed:
                    assert e.prev_hash == prev and e.hash == link_hash(e.body.encode(), prev)
                    prev = e.hash
        assert (await verify(audit_host, "acme")).ok

    async def test_pruning_keeps_what_is_unsealed(self, audit_host: AuditHost) -> None:
        async with audit_host.write() as conn:
            await record_many(conn, [_event(f"s{i}@acme.example") for i in range(3)])
        async with audit_host.seal() as conn:
            assert (await seal_pending(conn)).count == 3
        async with audit_host.write() as conn:
            await record_many(conn, [_event(f"w{i}@acme.example") for i in range(2)])
        async with audit_host.write() as conn:
            await prune_outbox(conn)
        assert await _counts(audit_host) == (0, 2)
        async with audit_host.seal() as conn:
            assert (await seal_pending(conn)).heads == {"acme": 5}
        assert (await verify(audit_host, "acme")).ok

    async def test_sealing_never_waits_on_a_host_write(self, audit_host: AuditHost) -> None:
        """A host's open write transaction must not hold up a sealing transaction (nor the other
        way round): on SQLite because the log is a file of its own and each side takes only its
        own file's write lock; on one database (PostgreSQL) because they lock different rows."""
        async with audit_host.write() as conn:
            await record(conn, _event("jane@acme.example"))
        writing, release = asyncio.Event(), asyncio.Event()

        async def long_write() -> None:
            async with audit_host.write() as conn:
                await _change(conn, "acme")
                writing.set()
                await release.wait()

        writer = asyncio.create_task(long_write())
        try:
            await asyncio.wait_for(writing.wait(), 5)

            async def seal() -> int:
                async with audit_host.seal() as conn:
                    return (await seal_pending(conn)).count

            assert await asyncio.wait_for(seal(), 5) == 1
        finally:
            release.set()
            await writer
        assert await _counts(audit_host) == (1, 0)
