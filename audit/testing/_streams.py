"""Log-stream state in memory, behind the seam the delivery engine uses.

The engine (:mod:`audit.relay.delivery`) has no store interface of its own for stream cursors
and state: it reads and updates the stream tables with SQL, in transactions opened through
:class:`~audit.Transactions`. So the smallest in-memory stand-in is that seam over a private
in-memory SQLite database holding only the tables delivery touches: no file, no server, no
host migrations, and the engine's own statements run unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from audit.chain import GENESIS_HASH, canonical_json, link_hash
from audit.events import EventDraft
from audit.host import HostTransaction, attach, detach
from audit.ids import new_ulid
from audit.redaction import to_canonical
from audit.search_words import search_words
from audit.streams.crypto import SecretBox
from audit.streams.model import Stream, now
from audit.streams.tables import DEAD_LETTERS, STREAMS
from audit.tables import EVENTS, OUTBOX

__all__ = ["MemoryStreams"]

_TABLES = (STREAMS, DEAD_LETTERS, EVENTS, OUTBOX)


class MemoryStreams:
    """Streams, their cursors and dead letters, and sealed events to deliver, in memory.

    A :class:`~audit.Transactions` (``read()`` / ``write()``, after-commit callbacks run on
    commit), so it is what a :class:`~audit.DeliveryStage` or :class:`~audit.StreamService` is
    given in place of the host's database::

        async with MemoryStreams(secret_key="k") as streams:
            stream_id = await streams.add_stream(sink.type_name)
            await streams.add_events("acme", drafts)
            await DeliveryStage(streams, secret_key="k").run_once()
            assert (await streams.stream(stream_id)).cursor == len(drafts)
    """

    def __init__(self, *, secret_key: str = "audit-testing-key") -> None:
        self.secret_key = secret_key
        # One connection for every transaction: an in-memory database lives as long as it does.
        self._engine: AsyncEngine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
        # ... so one transaction at a time, as a host serialises its SQLite writers; opening one
        # inside another waits forever (the delivery engine never does).
        self._one_at_a_time = asyncio.Lock()
        self._ready = False

    async def __aenter__(self) -> MemoryStreams:
        if not self._ready:
            async with self._engine.begin() as conn:
                for table in _TABLES:
                    await conn.run_sync(table.create)
            self._ready = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._engine.dispose()

    # ---- the Transactions seam -------------------------------------------------------------

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self._one_at_a_time, self._engine.connect() as conn:
            transaction = attach(conn, HostTransaction())
            try:
                async with conn.begin():
                    yield conn
            finally:
                detach(conn)
            transaction.run_after_commit()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._one_at_a_time, self._engine.connect() as conn, conn.begin():
            yield conn

    # ---- arranging and inspecting state ---------------------------------------------------

    async def add_stream(
        self,
        type_name: str,
        *,
        organization: str = "acme",
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        format: str = "native",
        state: str = "active",
        cursor: int = 0,
    ) -> str:
        """A stream of ``type_name`` (e.g. a :class:`~audit.testing.MockSink`'s), as the admin API stores it."""
        stream_id = f"ls_{new_ulid()}"
        stamp = now()
        row = {
            "id": stream_id,
            "organization": organization,
            "name": name or stream_id,
            "type": type_name,
            "format": format,
            "config": dict(config or {}),
            "secrets": SecretBox(self.secret_key).seal(stream_id, secrets or {}),
            "filter": {"categories": [], "actions": []},
            "state": state,
            "cursor": cursor,
            "version": 1,
            "created_at": stamp,
            "updated_at": stamp,
        }
        async with self.write() as conn:
            await conn.execute(insert(STREAMS).values(**row))
        return stream_id

    async def add_events(self, drafts: Iterable[EventDraft]) -> list[int]:
        """Seal ``drafts`` into their organisations' chains, as the relay would; their sequences."""
        sequences: list[int] = []
        async with self.write() as conn:
            for draft in drafts:
                event: dict[str, Any] = dict(to_canonical(draft))
                last = (
                    await conn.execute(
                        select(EVENTS.c.sequence, EVENTS.c.hash)
                        .where(EVENTS.c.organization == draft.organization)
                        .order_by(EVENTS.c.sequence.desc())
                        .limit(1)
                    )
                ).first()
                event["sequence"], event["prev_hash"] = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
                body = canonical_json(event)
                targets = event["targets"]
                await conn.execute(
                    insert(EVENTS).values(
                        event_id=event["id"],
                        organization=draft.organization,
                        sequence=event["sequence"],
                        action=event["action"],
                        category=event["category"],
                        occurred_at=event["occurred_at"],
                        actor_name=event["actor"]["name"],
                        target_name=targets[0]["name"] if targets else None,
                        search_text=search_words(event),
                        body=body.decode(),
                        prev_hash=event["prev_hash"],
                        hash=link_hash(body, event["prev_hash"]),
                    )
                )
                sequences.append(event["sequence"])
        return sequences

    async def stream(self, stream_id: str) -> Stream:
        """The stream as the engine last left it: state, cursor, last error."""
        async with self.read() as conn:
            row = (await conn.execute(select(STREAMS).where(STREAMS.c.id == stream_id))).one()
        return Stream.from_row(row)

    async def dead_letters(self, stream_id: str) -> list[dict[str, Any]]:
        """The batches the engine dead-lettered for the stream, oldest first."""
        query = select(DEAD_LETTERS).where(DEAD_LETTERS.c.stream_id == stream_id).order_by(DEAD_LETTERS.c.pk)
        async with self.read() as conn:
            return [dict(row._mapping) for row in await conn.execute(query)]

    async def recorded(self) -> list[dict[str, Any]]:
        """Audit events the engine recorded (e.g. ``log_stream.disabled``), not yet sealed."""
        async with self.read() as conn:
            return [row.payload for row in await conn.execute(select(OUTBOX).order_by(OUTBOX.c.pk))]
