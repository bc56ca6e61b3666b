"""The server's secret key: from SCIMTRAIL_SECRET_KEY, else a generated one kept in a file.

The key encrypts log-stream secrets at rest and derives the audit checkpoint signing key, so it
must survive restarts and must not live inside the database it protects. Production deployments
set ``SCIMTRAIL_SECRET_KEY``; the embedded default keeps a generated key beside the SQLite file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import structlog
from sqlalchemy import make_url

from .settings import Settings

__all__ = ["resolve_secret_key", "secret_key_file"]

_log = structlog.get_logger("scimtrail")


def secret_key_file(settings: Settings) -> Path | None:
    """Where a generated key is kept; None when the database is in memory (the key is too)."""
    if settings.secret_key_file:
        return Path(settings.secret_key_file)
    if settings.is_sqlite:
        database = make_url(settings.database_url).database or ":memory:"
        if database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).with_name(Path(database).name + ".secret")
    return Path("scimtrail.secret")


def resolve_secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = secret_key_file(settings)
    if path is None:
        return secrets.token_urlsafe(48)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    _log.warning("generated a secret key; set SCIMTRAIL_SECRET_KEY in production", path=str(path))
    return key
