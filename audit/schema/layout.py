"""Where the sealed log lives on SQLite: a database file of its own, attached to the host's.

The host writes the main file, the sealer only the log's, so neither waits on the other's write
lock (SQLite has one per file), and a sealer in a process of its own takes nothing from the
host's core. Every connection attaches the log under :data:`LOG_SCHEMA`; the log's tables
(``audit_events``, its chains, checkpoints and search indexes, and the sealer's watermark) exist
only there, so statements name them without a schema. PostgreSQL is one database: none of this.
"""

from __future__ import annotations

from typing import Final

__all__ = ["LOCK_LOG", "LOG_SCHEMA", "log_database"]

#: The schema name the log's file is attached under, on every connection of a SQLite host.
LOG_SCHEMA: Final = "audit_log"

#: Takes the log file's write lock and changes nothing: a write statement locks only the file it
#: names, where ``BEGIN IMMEDIATE`` would lock every attached one (a host's ``seal()`` begins
#: with it; a host write transaction that will write the log runs it before reading the log).
LOCK_LOG: Final = f"DELETE FROM {LOG_SCHEMA}.audit_seal_state WHERE 0"


def log_database(database: str) -> str:
    """Where the sealed log of the SQLite database ``database`` lives: a file beside it.

    ``scimtrail.db`` keeps its log in ``scimtrail-audit.db``; a ``file:`` URI keeps its query;
    an in-memory database keeps its log in memory too.
    """
    if database in ("", ":memory:"):
        return ":memory:"
    if database.startswith("file:"):
        path, sep, query = database.partition("?")
        return f"{path}-audit{sep}{query}"
    base, dot, suffix = database.rpartition(".")
    if dot and "/" not in suffix:
        return f"{base}-audit.{suffix}"
    return f"{database}-audit"
