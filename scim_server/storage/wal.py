"""Copying SQLite's write-ahead log back into the database file, off the event loop.

By default SQLite checkpoints inside ``COMMIT``: the commit that takes the log past 1,000 pages
copies them all into the database file and syncs it. Our SQLite driver answers on the event
loop's thread (``sqlite_driver``), so that commit stalls every request in flight for the length
of a 4 MB copy and an fsync: under steady writes, every few hundred requests.

:class:`WalCheckpointer` moves that work to a thread of its own with its own connection, which
runs a ``PASSIVE`` checkpoint (never waits for a lock, never blocks a reader or the writer) a few
times a second while there are new commits. SQLite releases the GIL while it copies and syncs,
so the loop keeps serving. The connections' automatic checkpoint stays on as a backstop
(:data:`BACKSTOP_PAGES`), far enough out that it fires only if this thread falls behind.
"""

from __future__ import annotations

import sqlite3
import threading

import structlog

__all__ = ["BACKSTOP_PAGES", "WalCheckpointer"]

_log = structlog.get_logger("scim_server.storage")

#: ``wal_autocheckpoint`` on every connection: the log size at which a commit checkpoints
#: inline after all, if the checkpointer thread has not kept up (a long reader, a stalled disk).
BACKSTOP_PAGES = 10_000


class WalCheckpointer:
    """A daemon thread that checkpoints ``database``'s log every ``interval`` seconds after writes.

    With other databases attached (the sealed audit log's file), it checkpoints each file this
    process wrote to, and only those: the server never copies the log's pages, which the relay's
    process writes and checkpoints itself."""

    def __init__(
        self, database: str, *, uri: bool = False, interval: float = 0.1, attach: dict[str, str] | None = None
    ) -> None:
        self._database = database
        self._attach = dict(attach or {})
        self._uri = uri
        self._interval = interval
        self._dirty: set[str] = set()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def wrote(self, schema: str = "main") -> None:
        """A transaction committed to ``schema``'s file: check its log at the next tick. Cheap
        enough for every commit."""
        self._dirty.add(schema)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)

    def _run(self) -> None:
        conn = sqlite3.connect(self._database, uri=self._uri, check_same_thread=False, timeout=0)
        for schema, other in self._attach.items():
            conn.execute(f"ATTACH DATABASE ? AS {schema}", (other,))
        try:
            while not self._halt.wait(self._interval):
                for schema in list(self._dirty):
                    self._dirty.discard(schema)
                    try:
                        conn.execute(f"PRAGMA {schema}.wal_checkpoint(PASSIVE)").fetchone()
                    except sqlite3.OperationalError as exc:
                        # Another checkpoint is running (the backstop, or another process's): next tick.
                        self._dirty.add(schema)
                        _log.debug("wal checkpoint deferred", schema=schema, reason=str(exc))
        finally:
            conn.close()
