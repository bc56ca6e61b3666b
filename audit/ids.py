"""ULIDs for event, stream and request ids, cheap enough to mint one per event.

A ULID is 48 bits of Unix time in milliseconds and 80 random bits, written as 26 characters of
Crockford's base32, so ids sort by the time they were made. This generator uses the spec's
monotonic mode: the first id of a millisecond draws fresh randomness, the next ones in the same
millisecond add one to it. That costs one ``os.urandom`` per millisecond rather than per id,
keeps the ids a process makes strictly increasing (new rows land at the right-hand end of every
index keyed on them), and still leaves two processes' ids 80 random bits apart.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_ulid"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Every 10-bit value as its two base32 characters: an id is eight lookups, not 26 divisions.
_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
_RANDOM_BITS = 80
_MAX_RANDOM = (1 << _RANDOM_BITS) - 1


def _encode_time(ms: int) -> str:
    """48 bits as 10 characters (the first holds the top 3 bits, so it is 0-7)."""
    p = _PAIRS
    return p[ms >> 40] + p[(ms >> 30) & 1023] + p[(ms >> 20) & 1023] + p[(ms >> 10) & 1023] + p[ms & 1023]


class _Monotonic:
    __slots__ = ("_lock", "_ms", "_prefix", "_random")

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # Also after a fork: the child must not repeat its parent's next ids, nor inherit the
        # lock held by a thread it does not have.
        self._lock = threading.Lock()
        self._ms = -1
        self._prefix = ""
        self._random = 0

    def __call__(self) -> str:
        ms = time.time_ns() // 1_000_000
        with self._lock:
            if ms > self._ms:
                self._ms, self._prefix = ms, _encode_time(ms)
                self._random = int.from_bytes(os.urandom(10))
            elif self._random < _MAX_RANDOM:
                # The same millisecond, or the clock stepped back: count on from the last id.
                self._random += 1
            else:
                # 2^80 ids in one millisecond cannot happen by chance; carry into the next one.
                self._ms += 1
                self._prefix, self._random = _encode_time(self._ms), 0
            prefix, r = self._prefix, self._random
        p = _PAIRS
        return (
            prefix
            + p[r >> 70]
            + p[(r >> 60) & 1023]
            + p[(r >> 50) & 1023]
            + p[(r >> 40) & 1023]
            + p[(r >> 30) & 1023]
            + p[(r >> 20) & 1023]
            + p[(r >> 10) & 1023]
            + p[r & 1023]
        )


#: A new ULID (26 characters), greater than every id this process made before it.
new_ulid = _Monotonic()
os.register_at_fork(after_in_child=new_ulid._reset)
