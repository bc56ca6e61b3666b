"""``scimtrail serve`` with the audit relay started in its lifespan, for the audit benchmarks.

    .venv/bin/python bench/tools/serve_with_relay.py --host 127.0.0.1 --port P

Until the app factory starts the relay itself, this is the server as it will ship: the same
settings, app factory and uvicorn options, plus ``audit.Relay(db, secret_key=…)`` started after
the migrations and stopped before the engine is disposed. If the factory already runs a relay,
the two share the lease and only one seals.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _with_relay() -> None:
    import audit
    from scim_server import app as app_module

    original = app_module.create_app

    def create_app(settings: Any = None) -> Any:
        app = original(settings)
        relay = audit.Relay(app.state.db, secret_key=app.state.settings.secret_key)
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(a: Any) -> AsyncIterator[None]:
            async with inner(a):
                await relay.start()
                try:
                    yield
                finally:
                    await relay.stop()

        app.router.lifespan_context = lifespan
        return app

    app_module.create_app = create_app  # type: ignore[assignment]


def main() -> None:
    _with_relay()
    from scim_server.cli import main as scimtrail

    sys.exit(scimtrail(["serve", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
