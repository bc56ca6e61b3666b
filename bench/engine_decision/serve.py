"""Serve one prototype engine over an already seeded SQLite file, for the HTTP throughput runs.

    .venv/bin/python bench/engine_decision/serve.py {scim2-sql|handbuilt|handbuilt-thread|handbuilt-lean|handbuilt-batch} DB_PATH PORT TOKEN
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent), str(_HERE.parent.parent)]

import uvicorn  # noqa: E402

import handbuilt  # noqa: E402
import scim2_sql  # noqa: E402
from scim_server.storage.engine import Database, create_engine  # noqa: E402


def main() -> None:
    import os

    if os.environ.get("BENCH_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    engine_name, db_path, port, token = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if os.environ.get("BENCH_POOL_SIZE"):
        from sqlalchemy.ext.asyncio import create_async_engine
        import orjson
        from scim_server.storage import engine as engine_module

        size = int(os.environ["BENCH_POOL_SIZE"])
        eng = create_async_engine(
            f"sqlite+aiosqlite:///{db_path}", pool_size=size, max_overflow=0,
            json_serializer=lambda v: orjson.dumps(v).decode(), json_deserializer=orjson.loads,
        )
        engine_module._configure_sqlite(eng)
        db = Database(eng)
    else:
        db = Database(create_engine(f"sqlite+aiosqlite:///{db_path}"))
    org_id = 1  # the seeded database holds one organisation
    if engine_name == "handbuilt":
        app = handbuilt.create_app(db, org_id, token)
    elif engine_name == "handbuilt-thread":
        app = handbuilt.create_app(db, org_id, token, handbuilt.ThreadStore(db_path))
    elif engine_name == "handbuilt-batch":
        app = handbuilt.create_app(db, org_id, token, handbuilt.BatchingThreadStore(db_path), lean=True)
    elif engine_name == "handbuilt-lean":
        app = handbuilt.create_app(db, org_id, token, handbuilt.ThreadStore(db_path), lean=True)
    else:
        app = scim2_sql.create_app(lambda provider: scim2_sql.SqlScimStorage(db, org_id, provider), token)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
