"""The one seam between the audit package and the host's database: two transaction scopes."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["AFTER_COMMIT", "Transactions"]

#: Key in ``conn.info`` of a list of callables the host runs after a successful commit of the
#: transaction (and drops on rollback). The outbox uses it to wake the sealer only once its rows
#: are visible.
AFTER_COMMIT = "scimtrail.after_commit"


class Transactions(Protocol):
    """Opens transactions on the host's engine.

    ``write()`` is one write transaction, committed when the block ends and rolled back if it
    raises; on SQLite the host serialises writers in-process, so every audit write goes through
    it rather than opening its own connection. ``read()`` is one consistent read snapshot.
    After ``write()`` commits, the host runs and clears the callbacks listed under
    ``conn.info[AFTER_COMMIT]``; on rollback it clears them without running them.
    """

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
