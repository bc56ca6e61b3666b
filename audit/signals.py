"""A level-triggered wake-up that any number of coroutines, on any event loop, can wait for."""

from __future__ import annotations

import asyncio

__all__ = ["Signal", "OUTBOX_WRITTEN"]


class Signal:
    """Like :class:`asyncio.Event` with auto-reset, but not bound to one loop.

    ``notify`` may run before anyone waits: the next ``wait`` then returns at once. The
    module-level instance outlives test loops and server restarts, which an ``asyncio.Event``
    (bound to the first loop that waits on it) would not.
    """

    __slots__ = ("_pending", "_waiters")

    def __init__(self) -> None:
        self._pending = False
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        self._pending = True
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for waiter in self._waiters:
            if waiter.done():
                continue
            if waiter.get_loop() is current:
                waiter.set_result(None)
            else:
                # Another loop (another thread): only its own thread may resolve the future.
                waiter.get_loop().call_soon_threadsafe(_resolve, waiter)

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait for a notification; ``True`` if one came, ``False`` on timeout."""
        if self._pending:
            self._pending = False
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)
        self._pending = False
        return True


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


#: Notified by :func:`audit.record` whenever an event enters the outbox in this process.
OUTBOX_WRITTEN = Signal()
