"""Alembic migrations, applied at start (``upgrade``) on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from audit import LOG_SCHEMA as _LOG_SCHEMA

__all__ = ["upgrade", "alembic_config"]

_HERE = Path(__file__).parent


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.set_main_option("version_locations", str(_HERE / "versions"))
    config.set_main_option("path_separator", "os")
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision``. Safe to call on every start; a no-op when current."""

    def _run(sync_conn: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync_conn
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)
        if conn.dialect.name == "sqlite":
            await conn.run_sync(_check_log_present)


def _check_log_present(sync_conn: Any) -> None:
    """On SQLite the sealed log is a file of its own (0005): a database past 0005 whose log file
    is missing (deleted, or not copied with it) must not start and seal a new log from nothing."""
    version = sync_conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    if version is None or version < "0005":
        return
    found = sync_conn.exec_driver_sql(
        f"SELECT count(*) FROM {_LOG_SCHEMA}.sqlite_master WHERE name = 'audit_seal_state'"
    ).scalar()
    if not found:
        path = sync_conn.exec_driver_sql(
            "SELECT file FROM pragma_database_list WHERE name = ?", (_LOG_SCHEMA,)
        ).scalar()
        raise RuntimeError(
            f"the audit log file {path or '(in memory)'} is missing or empty, but this database's log was moved"
            " there: restore it beside the database (back up and move the two files together)"
        )
