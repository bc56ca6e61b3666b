"""Per-credential token buckets: a sustained rate with room for a burst."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]

_MAX_BUCKETS = 100_000


class RateLimiter:
    """``acquire(key)`` spends one token and answers None, or answers the seconds until one is back.

    A ``rate`` of 0 disables limiting. ``burst`` is the bucket's size (at least one request).
    """

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = max(rate, 0.0)
        self.burst = float(burst if burst > 0 else max(1, math.ceil(self.rate)))
        self._clock = clock
        #: key → (tokens left, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, key: str) -> float | None:
        if not self.enabled:
            return None
        now = self._clock()
        tokens, counted = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - counted) * self.rate)
        if tokens >= 1.0:
            if len(self._buckets) >= _MAX_BUCKETS and key not in self._buckets:
                self._forget_full_buckets(now)
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_full_buckets(self, now: float) -> None:
        # A bucket that has refilled is indistinguishable from no bucket at all.
        self._buckets = {k: (t, c) for k, (t, c) in self._buckets.items() if t + (now - c) * self.rate < self.burst}
