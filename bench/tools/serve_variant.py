"""``scimtrail serve`` with one change to the product applied at start, to measure that change.

    .venv/bin/python bench/tools/serve_variant.py VARIANT --host 127.0.0.1 --port P

Variants:

- ``inline-sqlite``: the SQLite engine gets ``async_creator`` from
  ``engine_decision/inline_sqlite.py``, so every driver call runs on the event loop's thread
  instead of a round trip to aiosqlite's thread. Nothing else differs.

The product is otherwise exactly what ``scimtrail serve`` runs (same settings from the
environment, same app factory, same uvicorn options).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_BENCH = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_BENCH / "engine_decision"), str(_BENCH.parent)]


def _inline_sqlite() -> None:
    import inline_sqlite
    from sqlalchemy.engine import make_url

    from scim_server.storage import engine as engine_module

    original = engine_module.create_async_engine

    def patched(url: Any, **kwargs: Any) -> Any:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            kwargs["async_creator"] = inline_sqlite.creator_for(parsed.database)
        return original(url, **kwargs)

    engine_module.create_async_engine = patched  # type: ignore[assignment]


VARIANTS = {"inline-sqlite": _inline_sqlite}


def main() -> None:
    variant, args = sys.argv[1], sys.argv[2:]
    VARIANTS[variant]()
    from scim_server.cli import main as scimtrail

    sys.exit(scimtrail(["serve", *args]))


if __name__ == "__main__":
    main()
