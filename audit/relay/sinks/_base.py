"""What every sink is: config + encoder + request builder, and the three ends of a send."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import httpx

from audit.formats import Encoder

from ._destinations import DestinationPolicy

__all__ = [
    "Batch",
    "Delivered",
    "Outcome",
    "Rejected",
    "RejectScope",
    "Retry",
    "Sink",
    "SinkConfigError",
    "SinkContext",
]


class SinkConfigError(ValueError):
    """A stream's sink configuration is unusable; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive sealed events of one stream, in sequence order.

    ``id`` (``<stream>_<first>_<last>``) is the same on every retry of the same events, so
    receivers can drop the copies at-least-once delivery may produce.
    """

    stream_id: str
    organization: str
    events: Sequence[Mapping[str, Any]]
    #: Set only for an admin's test send, which must not look like a replay of real events.
    test_id: str | None = None

    @property
    def first_sequence(self) -> int:
        return int(self.events[0]["sequence"])

    @property
    def last_sequence(self) -> int:
        return int(self.events[-1]["sequence"])

    @property
    def id(self) -> str:
        return self.test_id or f"{self.stream_id}_{self.first_sequence}_{self.last_sequence}"


@dataclass(frozen=True, slots=True)
class Delivered:
    """The receiver has the batch (or already had it): the cursor may move past it."""


@dataclass(frozen=True, slots=True)
class Retry:
    """A passing failure: send the same batch again later, not before ``after`` seconds."""

    reason: str
    after: float | None = None


class RejectScope(enum.Enum):
    #: The receiver refuses this batch's content: dead-letter it and carry on.
    BATCH = "batch"
    #: The receiver refuses us (credentials, redirects, a missing index): hold the cursor.
    STREAM = "stream"
    #: The receiver says the endpoint is gone for good: disable the stream now.
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    scope: RejectScope = RejectScope.BATCH


Outcome = Delivered | Retry | Rejected


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What a sink is given besides its own config: who it sends for, how, and over what."""

    stream_id: str
    organization: str
    encoder: Encoder
    client: httpx.AsyncClient
    #: For sinks that open their own connections (syslog): connect and write timeout, seconds.
    timeout: float = 15.0
    #: Which addresses the sink may connect to; ``client`` must apply the same policy.
    destinations: DestinationPolicy = field(default_factory=DestinationPolicy)


class Sink(Protocol):
    """A destination type, registered by ``type_name`` (see :func:`audit.relay.sinks.register`)."""

    type_name: ClassVar[str]
    #: Config fields that are write-only: stored sealed, never returned, never logged.
    secret_fields: ClassVar[frozenset[str]]
    #: The most events one :meth:`send` should be handed.
    max_batch_events: ClassVar[int]
    #: Config fields naming where the sink connects (a URL or a host), checked against the
    #: server's :class:`~audit.relay.sinks.DestinationPolicy` when a stream is configured.
    destination_fields: ClassVar[frozenset[str]]

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The config (secrets included) checked and normalised; :class:`SinkConfigError` if unusable."""
        ...

    def __init__(self, config: Mapping[str, Any], context: SinkContext) -> None: ...

    async def send(self, batch: Batch) -> Outcome:
        """Deliver the batch once; never raises for anything the receiver or network does."""
        ...

    async def aclose(self) -> None:
        """Release what the sink holds open beyond the shared HTTP client (connections)."""
        ...
