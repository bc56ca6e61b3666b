"""SQLite's full-text index over sealed events, fed in bulk behind the sealer.

FTS5 writes an index segment per transaction that adds to it and merges segments as they pile
up, so indexing events a few dozen at a time, as they are sealed, cost more than sealing itself.
Instead the relay calls :func:`index_sealed` about once a second: every event sealed past the
watermark ``audit_events_fts_state.indexed_through`` (a pk) goes into the index in one
statement, and each event's first target's name into ``audit_events_fts_targets`` (migration
``0003``), which answers target filters in place of a B-tree that cost a random page write per
event. Free-text search therefore sees an event about a second after it is sealed; every other
filter sees it at once (a target filter walks the events past the watermark by pk). The
migration that set this up (``0002``) also made the delete trigger take out of the index only
rows below the watermark, the ones that were put in.

SQLite only: on PostgreSQL the GIN index is maintained by the database, and its backend
(:mod:`audit.backends.postgresql`) has nothing to do where SQLite's calls these.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["INDEX_BATCH", "index_sealed", "has_unindexed", "indexed_through", "target_key", "rewind_after_purge"]

#: Events per indexing transaction in the running relay. SQLite answers on the event loop's
#: thread, so one transaction indexing a second's worth of events would stall every request.
INDEX_BATCH = 256

_ANY_UNINDEXED = text(
    "SELECT 1 FROM audit_events WHERE pk > (SELECT indexed_through FROM audit_events_fts_state WHERE id = 1) LIMIT 1"
)
_WATERMARK = text("SELECT indexed_through FROM audit_events_fts_state WHERE id = 1")
_UPTO = text("SELECT max(pk) FROM (SELECT pk FROM audit_events WHERE pk > :through ORDER BY pk LIMIT :limit)")
_INDEX = text(
    "INSERT INTO audit_events_fts(rowid, search_text)"
    " SELECT pk, search_text FROM audit_events WHERE pk > :through AND pk <= :upto"
)
#: Must produce what :func:`target_key` does: SQLite's ``hex()`` of text is its UTF-8 bytes.
_INDEX_TARGETS = text(
    "INSERT INTO audit_events_fts_targets(rowid, target_key)"
    " SELECT pk, hex(target_name) FROM audit_events WHERE pk > :through AND pk <= :upto"
)
_ADVANCE = text("UPDATE audit_events_fts_state SET indexed_through = :upto WHERE id = 1")
_REWIND = text(
    "UPDATE audit_events_fts_state SET indexed_through = (SELECT coalesce(max(pk), 0) FROM audit_events)"
    " WHERE id = 1 AND indexed_through > (SELECT coalesce(max(pk), 0) FROM audit_events)"
)


async def index_sealed(conn: AsyncConnection, *, limit: int = 20_000) -> int:
    """Index up to ``limit`` sealed events past the watermark, oldest first; returns how many.

    Runs in the caller's write transaction (the relay's, under its lease), so the index and the
    watermark move together or not at all.
    """
    through = (await conn.execute(_WATERMARK)).scalar_one()
    upto = (await conn.execute(_UPTO, {"through": through, "limit": limit})).scalar()
    if upto is None:
        return 0
    indexed = await conn.execute(_INDEX, {"through": through, "upto": upto})
    await conn.execute(_INDEX_TARGETS, {"through": through, "upto": upto})
    await conn.execute(_ADVANCE, {"upto": upto})
    return indexed.rowcount


def target_key(name: str) -> str:
    """How ``audit_events_fts_targets`` holds a target name: one token, whatever the name's characters.

    Hex digits are all word characters to FTS5's tokenizer, so a name never splits into words
    and a filter matches the whole name or nothing (the tokenizer folds the hex to lower case;
    so does this).
    """
    return name.encode().hex()


async def indexed_through(conn: AsyncConnection) -> int:
    """The pk through which sealed events are in the index (SQLite): queries walk the rest by pk."""
    return int((await conn.execute(_WATERMARK)).scalar_one())


async def has_unindexed(conn: AsyncConnection) -> bool:
    """Whether any sealed event waits for the index: a read, so an idle relay never takes the write lock."""
    return (await conn.execute(_ANY_UNINDEXED)).first() is not None


async def rewind_after_purge(conn: AsyncConnection) -> None:
    """After a retention purge, bring the watermark down to the newest remaining event.

    SQLite gives a new row the highest pk in the table plus one. A purge that empties the
    newest end of the log would otherwise let new events take pks at or below the watermark:
    they would never be indexed, and their eventual purge would remove from the index rows it
    never held. In the purge's own transaction, so no event is sealed in between.
    """
    await conn.execute(_REWIND)
