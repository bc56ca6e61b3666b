"""The audit relay as its own process (what ``scimtrail relay`` runs), for the audit benchmarks,
beside a server started with ``SCIMTRAIL_RELAY=external``.

    SCIMTRAIL_DATABASE_URL=… .venv/bin/python bench/tools/run_relay.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


async def _run() -> None:
    import audit
    from scim_server.settings import Settings
    from scim_server.storage.engine import Database, create_engine

    settings = Settings.from_env()
    db = Database(create_engine(settings.database_url))
    relay = audit.Relay(db, secret_key=settings.secret_key)
    try:
        await relay.run()
    finally:
        await relay.stop()
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(_run())
