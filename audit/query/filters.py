"""What a caller may ask of the log (DESIGN §7), parsed once and turned into SQL on either backend."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import search_index
from ..errors import QueryError
from ..events import CATALOGUE, format_timestamp
from ..log_reads import EVENT_COLUMNS, SealedEvent
from ..tables import EVENTS

__all__ = [
    "QueryError",
    "EventFilter",
    "Page",
    "RANGES",
    "search_page",
    "read_range",
    "count_matching",
    "encode_cursor",
]

_events = EVENTS
#: SQLite's FTS5 index over ``audit_events.search_text`` (created by the initial migration, with the triggers that keep it in step).
_fts = table("audit_events_fts", column("rowid"), column("audit_events_fts"))
#: Each event's first target's name as one token (:func:`audit.search_index.target_key`), SQLite only.
_targets = table("audit_events_fts_targets", column("rowid"), column("audit_events_fts_targets"))
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
_WORD = re.compile(r"\w+")
_CURSOR_PREFIX = "s1."
_FLOOR_MARGIN = timedelta(days=1)
_MAX_TEXT = 200
#: The longest actor or target name the log stores (``audit_events.actor_name``/``target_name``).
_MAX_NAME = 320
_MIN_PREFIX = 3
#: Above any pk SQLite assigns (its rowids are signed 64-bit).
_MAX_PK = 2**63 - 1

#: The ``range`` presets: how far back each reaches (``today`` is since midnight UTC).
RANGES: Mapping[str, timedelta | None] = {
    "today": None,
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


def _instant(name: str, value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise QueryError(f"{name} must be an ISO 8601 date or date-time, e.g. 2026-11-01T00:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_timestamp(moment)


@dataclass(frozen=True, slots=True)
class _Term:
    words: tuple[str, ...]
    #: The last word matches as a prefix (the user ended the term with ``*``).
    prefix: bool


def _search_terms(q: str) -> tuple[_Term, ...]:
    """Whitespace-separated terms, each the words it contains (``jane@acme`` → ``jane acme``).

    Words match whole unless the term ends in ``*``: a prefix of a common word (``user*``)
    has to merge thousands of index entries, so it is something to ask for, not a default.
    """
    terms = (_Term(tuple(_WORD.findall(term.lower())), term.endswith("*")) for term in q.split())
    return tuple(t for t in terms if t.words)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """One search of the log, shared by the listing and the export. Empty means "everything".

    Parsed from a request's query parameters and turned into index-aware SQL per backend. A log
    stream's standing selection of event kinds is a different thing: :class:`audit.streams.StreamFilter`.
    """

    since: str | None = None
    until: str | None = None
    categories: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    actor: str | None = None
    target: str | None = None
    text: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]], *, now: datetime | None = None) -> EventFilter:
        """Parse query parameters (each name → its values, in order); raises :class:`QueryError`."""

        for name, values in params.items():
            for value in values:
                if not value.isascii():
                    try:
                        value.encode()
                    except UnicodeEncodeError:  # a lone surrogate, from a command line's bytes
                        raise QueryError(f"{name} is not valid UTF-8") from None

        def one(name: str) -> str | None:
            values = [v for v in params.get(name, ()) if v.strip()]
            if len(values) > 1:
                raise QueryError(f"{name} may be given only once")
            return values[0].strip() if values else None

        def many(name: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(v.strip() for v in params.get(name, ()) if v.strip()))

        now = now or datetime.now(UTC)
        since, until, preset = one("since"), one("until"), one("range")
        if preset is not None:
            if since is not None:
                raise QueryError("give either range or since, not both")
            if preset not in RANGES:
                raise QueryError(f"range must be one of {', '.join(RANGES)}")
            reach = RANGES[preset]
            start = now.replace(hour=0, minute=0, second=0, microsecond=0) if reach is None else now - reach
            since_value: str | None = format_timestamp(start)
        else:
            since_value = _instant("since", since) if since is not None else None
        until_value = _instant("until", until) if until is not None else None
        if since_value and until_value and since_value > until_value:
            raise QueryError("since must not be after until")
        categories = many("category")
        if unknown := [c for c in categories if c not in CATALOGUE]:
            raise QueryError(f"unknown category {unknown[0]!r}; known: {', '.join(CATALOGUE)}")
        actions = many("action")
        known_actions = {a for acts in CATALOGUE.values() for a in acts}
        if unknown := [a for a in actions if a not in known_actions]:
            raise QueryError(f"unknown action {unknown[0]!r}")
        q = one("q")
        if q is not None and len(q) > _MAX_TEXT:
            raise QueryError(f"q is limited to {_MAX_TEXT} characters")
        for name in ("actor", "target"):
            if len(one(name) or "") > _MAX_NAME:
                raise QueryError(f"{name} is limited to {_MAX_NAME} characters: no event's {name} is longer")
        if q is not None and any(t.prefix and len(t.words[-1]) < _MIN_PREFIX for t in _search_terms(q)):
            raise QueryError(f"a prefix search (word*) needs at least {_MIN_PREFIX} characters before the *")
        return cls(
            since=since_value,
            until=until_value,
            categories=categories,
            actions=actions,
            actor=one("actor"),
            target=one("target"),
            text=q if q and _search_terms(q) else None,
        )

    def describe(self) -> dict[str, Any]:
        """The filter as audit-event metadata (names and scalars only)."""
        described: dict[str, Any] = {
            "since": self.since,
            "until": self.until,
            "categories": list(self.categories),
            "actions": list(self.actions),
            "actor": self.actor,
            "target": self.target,
            "q": self.text,
        }
        return {k: v for k, v in described.items() if v not in (None, [])}


@dataclass(frozen=True, slots=True)
class Page:
    events: list[SealedEvent]
    next_cursor: str | None


def encode_cursor(before_sequence: int) -> str:
    raw = f"{_CURSOR_PREFIX}{before_sequence}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith(_CURSOR_PREFIX):
            value = int(raw[len(_CURSOR_PREFIX) :])
            if value > 0:
                return value
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise QueryError("cursor is not one this API returned", code="invalid_cursor")


def _column(name: str, *, hinted: bool) -> ColumnElement[Any]:
    """A column of ``audit_events``; ``hinted`` puts SQLite's unary ``+`` on it, so no index serves it."""
    return literal_column(f"+audit_events.{name}") if hinted else _events.c[name]


async def _conditions(
    conn: AsyncConnection, organization: str, f: EventFilter, *, unindexed: bool = False
) -> list[ColumnElement[bool]]:
    """The filter as WHERE terms, the target's included.

    ``unindexed`` (SQLite) keeps every index out of the planner's choices: the caller walks
    rows by ``pk`` instead.
    """
    sqlite = conn.dialect.name == "sqlite"
    where: list[ColumnElement[bool]] = [_column("organization", hinted=unindexed) == organization]
    if f.since or f.until:
        # Pages walk an index in sequence order and stop at the limit. SQLite, without
        # statistics, would rather range-scan the time index and sort every event in the
        # window; the unary + keeps that index out of its choices.
        occurred_at = _column("occurred_at", hinted=sqlite)
        if f.since:
            where.append(occurred_at >= f.since)
        if f.until:
            where.append(occurred_at < f.until)
    if f.categories:
        where.append(_column("category", hinted=unindexed).in_(f.categories))
    if f.actions:
        where.append(_column("action", hinted=unindexed).in_(f.actions))
    if f.actor:
        where.append(_column("actor_name", hinted=unindexed) == f.actor)
    if f.target:
        where.append(_column("target_name", hinted=unindexed) == f.target)
    return where


async def _sequence_floor(conn: AsyncConnection, organization: str, since: str) -> int | None:
    """A sequence below which no event at or after ``since`` can sit, found in one index probe.

    Sequences follow outbox order, and an event enters the outbox within one transaction of
    its ``occurred_at`` (see :class:`~audit.events.EventDraft`). So an event that occurred a
    full day before ``since`` was sealed before anything at or after ``since``: its sequence is
    a safe floor. A relay outage delays sealing but keeps outbox order, so it changes nothing.
    """
    margin = format_timestamp(datetime.fromisoformat(since) - _FLOOR_MARGIN)
    return (
        await conn.execute(
            select(_events.c.sequence)
            .where(_events.c.organization == organization, _events.c.occurred_at < margin)
            .order_by(_events.c.occurred_at.desc())
            .limit(1)
        )
    ).scalar()


def _pk_at(organization: str, sequence: int, *, below: bool) -> ColumnElement[Any]:
    """The pk of the organisation's last event at or below ``sequence`` (``below``), or first at or above it.

    Within one organisation ``pk`` and ``sequence`` rise together (one sealer assigns both), so
    a sequence bound becomes a rowid bound that FTS5 applies inside its index walk.
    """
    query = select(_events.c.pk).where(_events.c.organization == organization)
    if below:
        query = query.where(_events.c.sequence <= sequence).order_by(_events.c.sequence.desc())
    else:
        query = query.where(_events.c.sequence >= sequence).order_by(_events.c.sequence.asc())
    return query.limit(1).scalar_subquery()


async def _queries(
    conn: AsyncConnection,
    organization: str,
    f: EventFilter,
    *,
    newest_first: bool,
    after: int | None = None,
    before: int | None = None,
) -> list[Select[Any]]:
    """The filtered SELECTs for ``after < sequence < before``, in paging order.

    Their results, concatenated, are the matching events in order: usually there is one query.
    On SQLite a filter with words (free text, a target) walks the FTS5 index in rowid order and
    stops at the page size instead of collecting every match first. A target filter must also
    see the events sealed in the last second, which the index has not taken in yet: a second
    query walks those few rows by pk, above the index's watermark.
    """
    if f.since and (floor := await _sequence_floor(conn, organization, f.since)) is not None:
        after = max(after, floor - 1) if after is not None else floor - 1
    bounds: list[ColumnElement[bool]] = []
    if after is not None:
        bounds.append(_events.c.sequence > after)
    if before is not None:
        bounds.append(_events.c.sequence < before)
    where = [*await _conditions(conn, organization, f), *bounds]
    plain = select(*EVENT_COLUMNS).where(*where)
    by_sequence = _events.c.sequence.desc() if newest_first else _events.c.sequence.asc()
    if conn.dialect.name != "sqlite":
        if f.text:
            tsquery = " & ".join(
                " <-> ".join((*t.words[:-1], t.words[-1] + (":*" if t.prefix else ""))) for t in _search_terms(f.text)
            )
            plain = plain.where(
                func.to_tsvector(_SIMPLE, _events.c.search_text).op("@@")(func.to_tsquery(_SIMPLE, tsquery))
            )
        return [plain.order_by(by_sequence)]
    if not f.text and not f.target:
        return [plain.order_by(by_sequence)]
    # Free text walks the full-text index (checking any target by name); a target alone walks
    # the index of target names, which has no B-tree on SQLite (migration 0003).
    if f.text:
        index = _fts
        match = " AND ".join('"' + " ".join(t.words) + '"' + ("*" if t.prefix else "") for t in _search_terms(f.text))
    else:
        index, match = _targets, '"' + search_index.target_key(f.target or "") + '"'
    indexed = (
        select(*EVENT_COLUMNS)
        .select_from(index)
        .join(_events, _events.c.pk == index.c.rowid)
        .where(index.c[index.name].op("MATCH")(match), *where)
    )
    if after is not None:
        indexed = indexed.where(index.c.rowid > func.coalesce(_pk_at(organization, after, below=True), 0))
    if before is not None:
        indexed = indexed.where(index.c.rowid < func.coalesce(_pk_at(organization, before, below=False), _MAX_PK))
    order = index.c.rowid.desc() if newest_first else index.c.rowid.asc()
    if f.text:  # free text sees what the index holds, about a second behind the sealer
        return [indexed.order_by(order)]
    # Both indexes are fed about once a second; a target filter sees sealed events at once,
    # so the events past the watermark (a second's worth) are walked by pk.
    watermark = await search_index.indexed_through(conn)
    indexed = indexed.where(index.c.rowid <= watermark).order_by(order)
    recent = (
        select(*EVENT_COLUMNS)
        .where(_events.c.pk > watermark, *await _conditions(conn, organization, f, unindexed=True), *bounds)
        .order_by(_events.c.pk.desc() if newest_first else _events.c.pk.asc())
    )
    return [recent, indexed] if newest_first else [indexed, recent]


async def _collect(conn: AsyncConnection, queries: list[Select[Any]], limit: int) -> list[SealedEvent]:
    events: list[SealedEvent] = []
    for query in queries:
        if len(events) >= limit:
            break
        rows = (await conn.execute(query.limit(limit - len(events)))).all()
        events.extend(SealedEvent.from_row(r) for r in rows)
    return events


async def search_page(
    conn: AsyncConnection, organization: str, f: EventFilter, *, limit: int, cursor: str | None = None
) -> Page:
    """One page, newest first; ``next_cursor`` continues after the last event of this page."""
    before = _decode_cursor(cursor) if cursor is not None else None
    found = await _collect(conn, await _queries(conn, organization, f, newest_first=True, before=before), limit + 1)
    events = found[:limit]
    more = len(found) > limit
    return Page(events, encode_cursor(events[-1].sequence) if more and events else None)


async def read_range(
    conn: AsyncConnection, organization: str, f: EventFilter, *, after: int, through: int, limit: int
) -> list[SealedEvent]:
    """Matching events with ``after < sequence <= through``, oldest first (the export's keyset read)."""
    queries = await _queries(conn, organization, f, newest_first=False, after=after, before=through + 1)
    return await _collect(conn, queries, limit)


async def count_matching(conn: AsyncConnection, organization: str, f: EventFilter) -> int:
    total = 0
    for query in await _queries(conn, organization, f, newest_first=False):
        total += (await conn.execute(select(func.count()).select_from(query.order_by(None).subquery()))).scalar_one()
    return total
