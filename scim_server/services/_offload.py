"""Keeping one large request from holding the event loop (issue #19).

Every request's work is linear in its size (``protocol.limits``), but a 1 MB body still takes tens
of milliseconds of Python to check, and all that time every other organisation's requests wait.
Work over a size threshold runs on a worker thread instead, where the interpreter switches back to
the loop every few milliseconds; below it, it runs inline, because a thread hand-off costs more
than checking a few kilobytes. Long runs of statements (thousands of group members) are cut into
slices with a turn of the loop between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final, TypeVar

import orjson

__all__ = ["OFF_LOOP_BYTES", "SLICE", "json_size", "off_loop", "yielding"]

T = TypeVar("T")

#: Inputs of at least this many bytes (as JSON) are worked on off the loop. Checking 16 KB of
#: SCIM JSON takes a few milliseconds (1,000 emails, 45 KB: ~20 ms on a loaded 2-core
#: machine); the thread hand-off ~0.1 ms.
OFF_LOOP_BYTES: Final = 16 * 1024
#: Items per statement when writing or looking up many members: each slice is a few ms of SQL.
SLICE: Final = 1000


def json_size(*values: Any) -> int:
    """The size of ``values`` as JSON: orjson serialises ~1 GB/s, so this is cheap beside the work."""
    size = 0
    for value in values:
        try:
            size += len(orjson.dumps(value))
        except TypeError:
            # Not JSON (an unexpected type in a body): let the work itself refuse it, on the loop.
            continue
    return size


async def off_loop(fn: Callable[..., T], *args: Any, size: int) -> T:
    """``fn(*args)``, on a worker thread when ``size`` (bytes of input) says it is large."""
    if size < OFF_LOOP_BYTES:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)


async def yielding(items: Sequence[T], size: int = SLICE) -> AsyncIterator[Sequence[T]]:
    """``items`` in slices of ``size``, with a turn of the event loop between two slices."""
    for start in range(0, len(items), size):
        if start:
            await asyncio.sleep(0)
        yield items[start : start + size]
