"""A uniqueness violation, translated once from the database driver's ``IntegrityError``.

Used by the audit trail and by its host (``scim_server.storage``) wherever a write may meet a row
that is already there: each site says what a duplicate means to it, and nothing else needs to
know how SQLite and PostgreSQL report one.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.exc import IntegrityError

__all__ = ["translate_unique"]


def _is_unique_violation(exc: IntegrityError) -> bool:
    # SQLite: "UNIQUE constraint failed: …" (primary keys too); PostgreSQL: "duplicate key value
    # violates unique constraint …".
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text


class translate_unique:
    """Translate a uniqueness violation raised in the block; any other ``IntegrityError`` passes.

    With ``error``, the violation becomes ``error()`` (raised ``from None``)::

        with translate_unique(lambda: Conflict(f"{slug!r} already exists")):
            await conn.execute(insert(...))

    Without it, the violation is swallowed and :attr:`violated` says it happened::

        with translate_unique() as duplicate:
            ...
        if duplicate.violated:
            ...

    A violation aborts the transaction on PostgreSQL: a caller whose transaction goes on opens a
    savepoint (``async with conn.begin_nested()``) inside the block.
    """

    __slots__ = ("_error", "violated")

    def __init__(self, error: Callable[[], BaseException] | None = None) -> None:
        self._error = error
        #: The block met a uniqueness violation (only ever set without ``error``).
        self.violated = False

    def __enter__(self) -> translate_unique:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if not isinstance(exc, IntegrityError) or not _is_unique_violation(exc):
            return False
        if self._error is not None:
            raise self._error() from None
        self.violated = True
        return True
