"""Fakes for testing code built on ``audit`` without a receiver or a database server, and the
contract a host of ``audit`` must pass.

- :class:`MockSink`: a log-stream sink that records what it was sent and answers what it is told
  to (delivered, retry, rejected), like httpx's ``MockTransport``.
- :class:`MemoryStreams`: the state the delivery engine reads and writes (streams, cursors, dead
  letters, sealed events), in memory, behind the :class:`~audit.Transactions` seam it uses.
- :mod:`audit.testing.contract`: :class:`~audit.testing.contract.AuditHostContract`, the tests
  every host must pass. It needs pytest, so it is imported on its own, not from here.
"""

from ._sink import MockSink
from ._streams import MemoryStreams

__all__ = ["MemoryStreams", "MockSink"]
