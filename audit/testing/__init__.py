"""Fakes for testing code built on ``audit`` without a receiver or a database server.

- :class:`MockSink`: a log-stream sink that records what it was sent and answers what it is told
  to (delivered, retry, rejected), like httpx's ``MockTransport``.
- :class:`MemoryStreams`: the state the delivery engine reads and writes (streams, cursors, dead
  letters, sealed events), in memory, behind the :class:`~audit.Transactions` seam it uses.
"""

from ._sink import MockSink
from ._streams import MemoryStreams

__all__ = ["MemoryStreams", "MockSink"]
