"""Managing log streams: the use cases behind ``/api/v1/streams``, each one audited.

Every change runs in one write transaction together with its ``log_stream.*`` audit event.
Secrets are sealed on the way in and never leave again: :func:`render` shows which secret
fields are set, not what they hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from audit._unique import translate_unique
from audit.access import Caller
from audit.errors import StreamError
from audit.events import EventDraft, Target, format_timestamp
from audit.formats import FORMATS
from audit.host import Transactions
from audit.ids import new_ulid
from audit.outbox import record
from audit.relay.sinks import (
    Batch,
    DestinationPolicy,
    DestinationRefused,
    Outcome,
    SinkConfigError,
    destination_host,
    get_sink,
)

from .crypto import SecretBox
from .model import Stream, build_sink, dead_letter_count, lag, now, parse_stream_filter, sink_client, split_secrets
from .tables import DEAD_LETTERS, STREAMS

__all__ = ["StreamError", "StreamService", "render"]

_streams = STREAMS
_dead_letters = DEAD_LETTERS
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def _invalid(message: str) -> StreamError:
    return StreamError(400, "invalid_request", message)


def _not_found() -> StreamError:
    return StreamError(404, "not_found", "no such log stream")


def _name_taken(name: str | None) -> StreamError:
    return StreamError(409, "conflict", f"a log stream named {name!r} already exists")


@dataclass(frozen=True, slots=True)
class StreamStatus:
    stream: Stream
    lag_events: int
    lag_seconds: float
    dead_letters: int


def render(status: StreamStatus) -> dict[str, Any]:
    """The API's view of a stream: configuration without secrets, and its delivery status."""
    stream = status.stream
    secret_fields = get_sink(stream.type).secret_fields
    return {
        "id": stream.id,
        "name": stream.name,
        "type": stream.type,
        "format": stream.format,
        "config": {k: v for k, v in stream.config.items() if k not in secret_fields},
        "filter": stream.filter.as_dict(),
        "state": stream.state,
        "created_at": stream.created_at,
        "updated_at": stream.updated_at,
        "status": {
            "cursor": stream.cursor,
            "lag_events": status.lag_events,
            "lag_seconds": round(status.lag_seconds, 3),
            "last_success_at": stream.last_success_at,
            "last_error": stream.last_error,
            "last_error_at": stream.last_error_at,
            "failing_since": stream.failing_since,
            "dead_letters": status.dead_letters,
        },
    }


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _invalid("name must be 3–63 characters of a-z, 0-9 and '-', starting and ending alphanumeric")
    return value


def _check_format(value: Any) -> str:
    if value not in FORMATS:
        raise _invalid(f"format must be one of {', '.join(sorted(FORMATS))}")
    return str(value)


def _validated(type_name: str, config: Any, destinations: DestinationPolicy) -> dict[str, Any]:
    """The sink's checked config, its destinations allowed by the policy; 400 ``invalid_config`` if not."""
    if not isinstance(config, Mapping):
        raise _invalid("config must be an object")
    sink = get_sink(type_name)
    try:
        checked = sink.validate(config)
    except SinkConfigError as exc:
        raise StreamError(400, "invalid_config", str(exc)) from None
    for name in sorted(sink.destination_fields & checked.keys()):
        try:
            destinations.check_host(destination_host(str(checked[name])))
        except DestinationRefused as exc:
            raise StreamError(400, "invalid_config", f"config.{name}: {exc}") from None
    return checked


class StreamService:
    def __init__(
        self,
        transactions: Transactions,
        box: SecretBox,
        *,
        request_timeout: float = 15.0,
        destinations: DestinationPolicy | None = None,
    ) -> None:
        self._transactions = transactions
        self._box = box
        self._request_timeout = request_timeout
        #: Where streams may send: checked when configured, and again at every connection.
        self._destinations = destinations or DestinationPolicy()

    # -- reading -------------------------------------------------------------------------

    async def list_streams(self, caller: Caller) -> list[StreamStatus]:
        async with self._transactions.read() as conn:
            rows = await conn.execute(
                select(_streams).where(_streams.c.organization == caller.organization).order_by(_streams.c.created_at)
            )
            return [await self._status(conn, Stream.from_row(r)) for r in rows.all()]

    async def get(self, caller: Caller, stream_id: str) -> StreamStatus:
        async with self._transactions.read() as conn:
            return await self._status(conn, await self._load(conn, caller, stream_id))

    async def _load(self, conn: AsyncConnection, caller: Caller, stream_id: str) -> Stream:
        row = (
            await conn.execute(
                select(_streams).where(_streams.c.id == stream_id, _streams.c.organization == caller.organization)
            )
        ).first()
        if row is None:
            raise _not_found()
        return Stream.from_row(row)

    async def _status(self, conn: AsyncConnection, stream: Stream) -> StreamStatus:
        events, seconds = await lag(conn, stream)
        return StreamStatus(stream, events, seconds, await dead_letter_count(conn, stream.id))

    async def dead_letters(self, caller: Caller, stream_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The stream's dead-lettered batches, newest first: what was refused, and why.

        The events themselves stay in the sealed log; :meth:`replay` from ``first_sequence``
        sends them again once the cause is fixed.
        """
        async with self._transactions.read() as conn:
            stream = await self._load(conn, caller, stream_id)
            rows = await conn.execute(
                select(
                    _dead_letters.c.batch_id,
                    _dead_letters.c.first_sequence,
                    _dead_letters.c.last_sequence,
                    _dead_letters.c.reason,
                    _dead_letters.c.created_at,
                )
                .where(_dead_letters.c.stream_id == stream.id)
                .order_by(_dead_letters.c.pk.desc())
                .limit(limit)
            )
            return [dict(row._mapping) for row in rows]

    # -- changing ------------------------------------------------------------------------

    async def create(self, caller: Caller, body: Mapping[str, Any]) -> StreamStatus:
        unknown = set(body) - {"type", "name", "config", "filter", "format"}
        if unknown:
            raise _invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        type_name = body.get("type")
        if not isinstance(type_name, str):
            raise _invalid("type is required")
        try:
            get_sink(type_name)
        except SinkConfigError as exc:
            raise StreamError(400, "invalid_config", str(exc)) from None
        name = _check_name(body.get("name"))
        fmt = _check_format(body.get("format", "native"))
        flt = self._filter(body.get("filter"))
        public, secrets = split_secrets(type_name, _validated(type_name, body.get("config"), self._destinations))
        stream_id = f"ls_{new_ulid()}"
        moment = now()
        row = {
            "id": stream_id,
            "organization": caller.organization,
            "name": name,
            "type": type_name,
            "format": fmt,
            "config": public,
            "secrets": self._box.seal(stream_id, secrets),
            "filter": flt,
            "state": "active",
            "cursor": 0,
            "version": 1,
            "created_at": moment,
            "updated_at": moment,
        }
        async with self._transactions.write() as conn:
            with translate_unique(lambda: _name_taken(name)):
                async with conn.begin_nested():
                    await conn.execute(insert(_streams).values(**row))
            await self._audit(conn, caller, "log_stream.created", name, {"type": type_name, "format": fmt})
            return await self._status(conn, await self._load(conn, caller, stream_id))

    async def update(self, caller: Caller, stream_id: str, body: Mapping[str, Any]) -> StreamStatus:
        unknown = set(body) - {"type", "name", "config", "filter", "format"}
        if unknown:
            raise _invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        async with self._transactions.write() as conn:
            stream = await self._load(conn, caller, stream_id)
            if "type" in body and body["type"] != stream.type:
                raise _invalid("a stream's type cannot change; create a new stream instead")
            values: dict[str, Any] = {}
            changed: list[str] = []
            if "name" in body and body["name"] != stream.name:
                values["name"] = _check_name(body["name"])
                changed.append("name")
            if "format" in body and body["format"] != stream.format:
                values["format"] = _check_format(body["format"])
                changed.append("format")
            if "filter" in body:
                values["filter"] = self._filter(body["filter"])
                changed.append("filter")
            if "config" in body:
                patch = body["config"]
                if not isinstance(patch, Mapping):
                    raise _invalid("config must be an object")
                current = {**stream.config, **self._box.open(stream.id, stream.secrets)}
                # A field set to null is removed (falls back to its default); others replace.
                merged = {k: v for k, v in {**current, **patch}.items() if v is not None}
                public, secrets = split_secrets(stream.type, _validated(stream.type, merged, self._destinations))
                values["config"] = public
                values["secrets"] = self._box.seal(stream.id, secrets)
                changed.extend(f"config.{k}" for k in sorted(patch))
            if values:
                values["version"] = stream.version + 1
                values["updated_at"] = now()
                with translate_unique(lambda: _name_taken(values.get("name"))):
                    async with conn.begin_nested():
                        await conn.execute(update(_streams).where(_streams.c.id == stream.id).values(**values))
                await self._audit(
                    conn, caller, "log_stream.updated", values.get("name", stream.name), {"changed": changed}
                )
            return await self._status(conn, await self._load(conn, caller, stream_id))

    async def delete(self, caller: Caller, stream_id: str) -> None:
        async with self._transactions.write() as conn:
            stream = await self._load(conn, caller, stream_id)
            await conn.execute(delete(_dead_letters).where(_dead_letters.c.stream_id == stream.id))
            await conn.execute(delete(_streams).where(_streams.c.id == stream.id))
            await self._audit(conn, caller, "log_stream.deleted", stream.name, {"type": stream.type})

    async def pause(self, caller: Caller, stream_id: str) -> StreamStatus:
        return await self._set_state(caller, stream_id, "paused", {"active", "failing"}, "paused")

    async def resume(self, caller: Caller, stream_id: str) -> StreamStatus:
        return await self._set_state(caller, stream_id, "active", {"paused", "disabled"}, "resumed")

    async def _set_state(
        self, caller: Caller, stream_id: str, state: str, from_states: set[str], change: str
    ) -> StreamStatus:
        async with self._transactions.write() as conn:
            stream = await self._load(conn, caller, stream_id)
            if stream.state in from_states:
                values: dict[str, Any] = {"state": state, "version": stream.version + 1, "updated_at": now()}
                if state == "active":
                    values["failing_since"] = None  # a resumed stream gets a fresh failure budget
                await conn.execute(update(_streams).where(_streams.c.id == stream.id).values(**values))
                await self._audit(
                    conn, caller, "log_stream.updated", stream.name, {"changed": ["state"], "state": state}
                )
            return await self._status(conn, await self._load(conn, caller, stream_id))

    async def replay(self, caller: Caller, stream_id: str, body: Mapping[str, Any]) -> StreamStatus:
        start = body.get("from_sequence")
        if isinstance(start, bool) or not isinstance(start, int) or start < 1:
            raise _invalid("from_sequence must be an integer ≥ 1")
        async with self._transactions.write() as conn:
            stream = await self._load(conn, caller, stream_id)
            await conn.execute(
                update(_streams)
                .where(_streams.c.id == stream.id)
                .values(cursor=start - 1, version=stream.version + 1, updated_at=now())
            )
            await self._audit(
                conn, caller, "log_stream.updated", stream.name, {"changed": ["cursor"], "replay_from_sequence": start}
            )
            return await self._status(conn, await self._load(conn, caller, stream_id))

    async def send_test(self, caller: Caller, stream_id: str) -> Outcome:
        """Send one synthetic event through the stream's sink now, whatever its state."""
        async with self._transactions.read() as conn:
            stream = await self._load(conn, caller, stream_id)
        test_id = f"{stream.id}_test_{new_ulid()}"
        event = {
            "id": f"evt_{new_ulid()}",
            "version": 1,
            "organization": stream.organization,
            "sequence": 0,
            "action": "log_stream.updated",
            "category": "administration",
            "occurred_at": format_timestamp(datetime.now(UTC)),
            "actor": {"type": caller.actor.type, "name": caller.actor.name},
            "targets": [{"type": "log_stream", "name": stream.name}],
            "context": {"ip": None, "user_agent": None, "request_id": None},
            "metadata": {"test": True, "message": "scimtrail log stream test event"},
            "prev_hash": "0" * 64,
            "hash": "0" * 64,
        }
        async with sink_client(self._destinations, self._request_timeout) as client:
            sink = build_sink(stream, self._box, client, self._destinations)
            try:
                return await sink.send(Batch(stream.id, stream.organization, [event], test_id=test_id))
            finally:
                await sink.aclose()

    # -- helpers -------------------------------------------------------------------------

    def _filter(self, value: Any) -> dict[str, Any]:
        try:
            return parse_stream_filter(value).as_dict()
        except SinkConfigError as exc:
            raise _invalid(str(exc)) from None

    async def _audit(
        self, conn: AsyncConnection, caller: Caller, action: str, name: str, metadata: Mapping[str, Any]
    ) -> None:
        await record(
            conn,
            EventDraft(
                organization=caller.organization,
                action=action,
                actor=caller.actor,
                targets=(Target(type="log_stream", name=name),),
                context=caller.context,
                metadata=dict(metadata),
            ),
        )
