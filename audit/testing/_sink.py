"""A sink that records what it was sent and answers what it is told to."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from audit.relay.sinks import Batch, Delivered, Outcome, SinkContext, register

__all__ = ["MockSink"]

#: Decides the end of one send, like an httpx ``MockTransport`` handler; raising is a sink bug.
Handler = Callable[[Batch], Outcome]

_names = itertools.count(1)


class MockSink:
    """A stream destination for tests, answering every send with ``handler(batch)``.

    ``answer`` is a fixed :data:`~audit.relay.sinks.Outcome` or a function of the batch. Each
    instance registers a sink type of its own, named :attr:`type_name`: create the stream with
    that type and the delivery engine builds its sink through the registry, as for a real one::

        sink = MockSink(Retry("receiver busy", after=0))
        stream_id = await streams.add_stream(sink.type_name)
        ...
        sink.answer(Delivered())

    Everything sent is kept, in order, in :attr:`batches`, with the answers in :attr:`outcomes`.
    """

    def __init__(self, answer: Outcome | Handler | None = None, *, max_batch_events: int = 1000) -> None:
        self.batches: list[Batch] = []
        self.outcomes: list[Outcome] = []
        #: The config each sink instance was built with (secrets opened), one per (re)build.
        self.configs: list[dict[str, Any]] = []
        self.answer(Delivered() if answer is None else answer)
        self.type_name = f"mock-{next(_names)}"
        register(_bound(self, self.type_name, max_batch_events))

    def answer(self, answer: Outcome | Handler) -> None:
        """Answer the sends from now on with ``answer``."""
        self._handler: Handler = answer if callable(answer) else (lambda batch: answer)

    @property
    def sequences(self) -> list[list[int]]:
        """The event sequences of every batch sent, in order."""
        return [[int(event["sequence"]) for event in batch.events] for batch in self.batches]

    def _send(self, batch: Batch) -> Outcome:
        self.batches.append(batch)
        outcome = self._handler(batch)
        self.outcomes.append(outcome)
        return outcome


def _bound(mock: MockSink, type_name: str, max_events: int) -> type[Any]:
    """A sink class (the :class:`~audit.relay.sinks.Sink` protocol) whose instances send to ``mock``."""

    class _MockSinkType:
        type_name: ClassVar[str]
        secret_fields: ClassVar[frozenset[str]] = frozenset({"secret"})
        max_batch_events: ClassVar[int]
        destination_fields: ClassVar[frozenset[str]] = frozenset()

        @classmethod
        def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
            return dict(config)

        def __init__(self, config: Mapping[str, Any], context: SinkContext) -> None:
            self.context = context
            mock.configs.append(dict(config))

        async def send(self, batch: Batch) -> Outcome:
            return mock._send(batch)

        async def aclose(self) -> None:
            return None

    _MockSinkType.type_name = type_name
    _MockSinkType.max_batch_events = max_events
    _MockSinkType.__name__ = _MockSinkType.__qualname__ = f"MockSink[{type_name}]"
    return _MockSinkType
