"""A process-wide notice that some credential was revoked, expired early or removed.

Verified credentials are cached for a few seconds (see :class:`~.authenticate.Authenticator`);
whoever changes a credential calls :func:`credentials_changed` after committing, and every cache
in the process forgets what it knew, so the change holds from the next request on. A change made
by another process (the CLI) reaches this one when the cache entry ages out.
"""

from __future__ import annotations

from collections.abc import Callable
from weakref import WeakMethod

__all__ = ["credentials_changed", "on_credentials_changed"]

_listeners: list[WeakMethod[Callable[[], None]]] = []


def on_credentials_changed(listener: Callable[[], None]) -> None:
    """Subscribe a bound method; it is dropped when its object is garbage-collected."""
    _listeners.append(WeakMethod(listener))


def credentials_changed() -> None:
    alive: list[WeakMethod[Callable[[], None]]] = []
    for ref in _listeners:
        listener = ref()
        if listener is not None:
            listener()
            alive.append(ref)
    _listeners[:] = alive
