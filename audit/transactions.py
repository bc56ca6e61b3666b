"""The one seam between the audit package and the host's database: two transaction scopes."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["Transactions"]


class Transactions(Protocol):
    """Opens transactions on the host's engine.

    ``write()`` is one write transaction, committed when the block ends and rolled back if it
    raises; on SQLite the host serialises writers in-process, so every audit write goes through
    it rather than opening its own connection. ``read()`` is one consistent read snapshot.
    """

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
