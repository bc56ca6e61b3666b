"""Audit's schema, owned here and applied by the host's migrations.

The tables are declared in :mod:`audit.tables` and :mod:`audit.streams.tables`; what their
metadata cannot express (append-only triggers, SQLite FTS5, a PostgreSQL expression index, the
log in a file of its own on SQLite) is DDL here. A host's Alembic revision calls the function
of the same number with its ``op``; the functions are frozen once released, like migrations.
"""

from .layout import LOCK_LOG, LOG_SCHEMA, log_database

__all__ = ["LOCK_LOG", "LOG_SCHEMA", "log_database"]
