"""What a caller may ask of the log (DESIGN §7), parsed once and turned into SQL on either backend."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, column, func, literal_column, select, table
from sqlalchemy.ext.asyncio import AsyncConnection

from ..events import CATALOGUE, format_timestamp
from ..store import EVENT_COLUMNS, SealedEvent
from ..tables import EVENTS

__all__ = ["QueryError", "EventFilter", "Page", "RANGES", "search_page", "read_range", "count_matching", "encode_cursor"]

_events = EVENTS
#: SQLite's FTS5 index over ``audit_events.search_text`` (created by the initial migration, with the triggers that keep it in step).
_fts = table("audit_events_fts", column("rowid"), column("audit_events_fts"))
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
_WORD = re.compile(r"\w+")
_CURSOR_PREFIX = "s1."
_FLOOR_MARGIN = timedelta(days=1)
_MAX_TEXT = 200
_MIN_PREFIX = 3

#: The ``range`` presets: how far back each reaches (``today`` is since midnight UTC).
RANGES: Mapping[str, timedelta | None] = {"today": None, "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}



class QueryError(ValueError):
    """A query the caller must fix; ``code`` is the machine-readable error."""

    def __init__(self, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
    """Filters shared by the listing and the export. Empty means "everything"."""

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


async def _conditions(conn: AsyncConnection, organization: str, f: EventFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [_events.c.organization == organization]
    if f.since or f.until:
        # Pages walk an index in sequence order and stop at the limit. SQLite, without
        # statistics, would rather range-scan the time index and sort every event in the
        # window; the unary + keeps that index out of its choices.
        occurred_at = literal_column("+audit_events.occurred_at") if conn.dialect.name == "sqlite" else _events.c.occurred_at
        if f.since:
            where.append(occurred_at >= f.since)
            if (floor := await _sequence_floor(conn, organization, f.since)) is not None:
                where.append(_events.c.sequence >= floor)
        if f.until:
            where.append(occurred_at < f.until)
    if f.categories:
        where.append(_events.c.category.in_(f.categories))
    if f.actions:
        where.append(_events.c.action.in_(f.actions))
    if f.actor:
        where.append(_events.c.actor_name == f.actor)
    if f.target:
        where.append(_events.c.target_name == f.target)
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


async def _base_query(
    conn: AsyncConnection, organization: str, f: EventFilter, *, newest_first: bool
) -> Select[Any]:
    """The filtered SELECT, ordered for paging.

    Within one organisation ``pk`` and ``sequence`` rise together (one sealer assigns both), so
    on SQLite a text search can walk the FTS5 index in rowid order and stop at the page size
    instead of collecting every match first.
    """
    query = select(*EVENT_COLUMNS).where(*await _conditions(conn, organization, f))
    order: ColumnElement[Any] = _events.c.sequence
    if f.text:
        terms = _search_terms(f.text)
        if conn.dialect.name == "sqlite":
            match = " AND ".join('"' + " ".join(t.words) + '"' + ("*" if t.prefix else "") for t in terms)
            query = (
                query.select_from(_fts)
                .join(_events, _events.c.pk == _fts.c.rowid)
                .where(_fts.c.audit_events_fts.op("MATCH")(match))
            )
            order = _fts.c.rowid
        else:
            tsquery = " & ".join(
                " <-> ".join((*t.words[:-1], t.words[-1] + (":*" if t.prefix else ""))) for t in terms
            )
            query = query.where(
                func.to_tsvector(_SIMPLE, _events.c.search_text).op("@@")(func.to_tsquery(_SIMPLE, tsquery))
            )
    return query.order_by(order.desc() if newest_first else order.asc())


async def search_page(
    conn: AsyncConnection, organization: str, f: EventFilter, *, limit: int, cursor: str | None = None
) -> Page:
    """One page, newest first; ``next_cursor`` continues after the last event of this page."""
    query = await _base_query(conn, organization, f, newest_first=True)
    if cursor is not None:
        query = query.where(_events.c.sequence < _decode_cursor(cursor))
    rows = (await conn.execute(query.limit(limit + 1))).all()
    events = [SealedEvent.from_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(events, encode_cursor(events[-1].sequence) if more and events else None)


async def read_range(
    conn: AsyncConnection, organization: str, f: EventFilter, *, after: int, through: int, limit: int
) -> list[SealedEvent]:
    """Matching events with ``after < sequence <= through``, oldest first (the export's keyset read)."""
    query = await _base_query(conn, organization, f, newest_first=False)
    query = query.where(and_(_events.c.sequence > after, _events.c.sequence <= through))
    return [SealedEvent.from_row(r) for r in (await conn.execute(query.limit(limit))).all()]


async def count_matching(conn: AsyncConnection, organization: str, f: EventFilter) -> int:
    query = await _base_query(conn, organization, f, newest_first=False)
    return (await conn.execute(select(func.count()).select_from(query.order_by(None).subquery()))).scalar_one()
