"""A log stream as the relay and the admin API see it, and the queries both need."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.chain import with_hash
from audit.events import CATALOGUE, format_timestamp
from audit.formats import get_encoder
from audit.relay.sinks import DestinationPolicy, Sink, SinkConfigError, SinkContext, get_sink
from audit.tables import EVENTS

from .crypto import SecretBox
from .tables import DEAD_LETTERS, STREAMS

__all__ = [
    "STATES",
    "SealedEventView",
    "Stream",
    "StreamFilter",
    "build_sink",
    "sink_client",
    "dead_letter_count",
    "lag",
    "now",
    "parse_stream_filter",
    "read_events",
    "split_secrets",
]

#: active → delivering; paused → holding its backlog by choice; failing → the receiver refuses
#: us and the relay keeps trying; disabled → given up (or gone), until an admin resumes it.
STATES = ("active", "paused", "failing", "disabled")

_events = EVENTS
_streams = STREAMS
_dead_letters = DEAD_LETTERS
_ALL_ACTIONS = {action: category for category, actions in CATALOGUE.items() for action in actions}


def now() -> str:
    return format_timestamp(datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Which kinds of event a stream carries, stored with it; an empty tuple means "any".

    A standing selection by category and action, applied to every read of the stream. Not to be
    confused with :class:`audit.query.EventFilter`, one search of the log (time window, actor,
    target, words) parsed from a request's query parameters.
    """

    categories: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any] | None) -> StreamFilter:
        """The filter as stored in ``log_streams.filter`` (already checked when it was saved)."""
        stored = stored or {}
        return cls(tuple(stored.get("categories") or ()), tuple(stored.get("actions") or ()))

    def as_dict(self) -> dict[str, list[str]]:
        return {"categories": list(self.categories), "actions": list(self.actions)}

    def clause(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.categories:
            parts.append(_events.c.category.in_(self.categories))
        if self.actions:
            parts.append(_events.c.action.in_(self.actions))
        return and_(*parts) if parts else true()


def parse_stream_filter(value: Any) -> StreamFilter:
    """``{"categories": [...], "actions": [...]}`` checked against the event catalogue."""
    if value is None:
        return StreamFilter()
    if not isinstance(value, Mapping) or set(value) - {"categories", "actions"}:
        raise SinkConfigError('filter must be an object with optional "categories" and "actions" lists')
    categories = _names(value.get("categories"), "filter.categories", CATALOGUE)
    actions = _names(value.get("actions"), "filter.actions", _ALL_ACTIONS)
    return StreamFilter(categories, actions)


def _names(value: Any, where: str, known: Mapping[str, Any]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SinkConfigError(f"{where} must be a list of strings")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise SinkConfigError(f"{where} has unknown value(s): {', '.join(unknown)}")
    return tuple(sorted(set(value)))


@dataclass(frozen=True, slots=True)
class Stream:
    id: str
    organization: str
    name: str
    type: str
    format: str
    config: Mapping[str, Any]
    secrets: str
    filter: StreamFilter
    state: str
    cursor: int
    version: int
    created_at: str
    updated_at: str
    last_success_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    failing_since: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Stream:
        values = dict(row._mapping)
        return cls(
            filter=StreamFilter.from_dict(values.pop("filter")),
            **{k: v for k, v in values.items() if k in cls.__dataclass_fields__},
        )

    @property
    def deliverable(self) -> bool:
        return self.state in ("active", "failing")


def sink_client(destinations: DestinationPolicy, timeout: float, **options: Any) -> httpx.AsyncClient:
    """An HTTP client for sinks: every connection it opens goes to an address ``destinations`` allows."""
    return httpx.AsyncClient(timeout=timeout, transport=destinations.transport(), **options)


def build_sink(stream: Stream, box: SecretBox, client: httpx.AsyncClient, destinations: DestinationPolicy) -> Sink:
    """The stream's sink, with its secrets opened, ready to send.

    ``client`` comes from :func:`sink_client` with the same ``destinations``, which also bind
    the sinks that open their own connections.
    """
    sink_type = get_sink(stream.type)
    config = {**stream.config, **box.open(stream.id, stream.secrets)}
    timeout = client.timeout.read or 15.0
    context = SinkContext(stream.id, stream.organization, get_encoder(stream.format), client, timeout, destinations)
    return sink_type(config, context)


class SealedEventView(Mapping[str, Any]):
    """A sealed event read-only, parsed only if someone looks past its indexed columns.

    Delivery in the native format never needs the parse: :attr:`raw` is the canonical JSON,
    spliced from the stored body and hash, and goes on the wire as it is.
    """

    __slots__ = ("_row", "_parsed")
    _COLUMNS = frozenset({"organization", "sequence", "action", "category", "occurred_at", "prev_hash", "hash"})

    def __init__(self, row: Any) -> None:
        self._row = row
        self._parsed: dict[str, Any] | None = None

    @property
    def raw(self) -> bytes:
        return with_hash(self._row.body, self._row.hash).encode()

    def _full(self) -> dict[str, Any]:
        if self._parsed is None:
            parsed: dict[str, Any] = orjson.loads(self._row.body)
            parsed["hash"] = self._row.hash
            self._parsed = parsed
        return self._parsed

    def __getitem__(self, key: str) -> Any:
        if key in self._COLUMNS:
            return getattr(self._row, key)
        return self._full()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._full())

    def __len__(self) -> int:
        return len(self._full())


async def read_events(conn: AsyncConnection, stream: Stream, after: int, limit: int) -> list[SealedEventView]:
    """The stream's next events after sequence ``after``, in order, as canonical events."""
    query = (
        select(*(_events.c[name] for name in SealedEventView._COLUMNS), _events.c.body)
        .where(_events.c.organization == stream.organization, _events.c.sequence > after, stream.filter.clause())
        .order_by(_events.c.sequence)
        .limit(limit)
    )
    return [SealedEventView(row) for row in await conn.execute(query)]


async def lag(conn: AsyncConnection, stream: Stream) -> tuple[int, float]:
    """Events the stream has yet to deliver, and the age in seconds of the oldest of them."""
    where = (_events.c.organization == stream.organization, _events.c.sequence > stream.cursor, stream.filter.clause())
    count = (await conn.execute(select(func.count()).select_from(_events).where(*where))).scalar_one()
    if not count:
        return 0, 0.0
    oldest = (
        await conn.execute(select(_events.c.occurred_at).where(*where).order_by(_events.c.sequence).limit(1))
    ).scalar_one()
    age = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds()
    return int(count), max(0.0, age)


async def dead_letter_count(conn: AsyncConnection, stream_id: str) -> int:
    query = select(func.count()).select_from(_dead_letters).where(_dead_letters.c.stream_id == stream_id)
    return int((await conn.execute(query)).scalar_one())


def split_secrets(type_name: str, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    secret_fields = get_sink(type_name).secret_fields
    public = {k: v for k, v in config.items() if k not in secret_fields}
    secrets = {k: v for k, v in config.items() if k in secret_fields}
    return public, secrets
