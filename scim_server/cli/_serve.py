"""``scimtrail serve``: the HTTP server, its relay placed as ``SCIMTRAIL_RELAY`` says."""

from __future__ import annotations

import argparse
import gc
from datetime import UTC, datetime

from ..app import configure, create_app
from ..services.organizations import OPERATOR, create_organization, issue_scim_token
from ..settings import Settings
from ..storage.engine import Database
from ..storage.organizations import OrganizationRepository
from ._shared import Commands, add_command, with_database

__all__ = ["register"]


def register(commands: Commands) -> None:
    serve = add_command(commands, "serve", "run the HTTP server (applies migrations at start)", _serve)
    serve.epilog = (
        "The audit relay runs where SCIMTRAIL_RELAY says: child (the default on a SQLite file), "
        "inprocess (the default on PostgreSQL), external (run `scimtrail relay` beside it) or off."
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--demo", action="store_true", help="create a demo organisation and print a token")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # Only the server needs uvicorn (and its uvloop and httptools): the other commands start without them.
    import uvicorn

    configure(settings)
    if args.demo:
        token = with_database(settings, _demo_token)
        host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0", "::") else args.host
        base = f"http://{host}:{args.port}/scim/v2"
        print(
            "\n".join(
                [
                    "",
                    "scimtrail is starting with a demo organisation 'demo'.",
                    f"  SCIM base URL : {base}",
                    f"  Bearer token  : {token}",
                    f"  Database      : {settings.database_url}",
                    "",
                    "Try it:",
                    f"  curl -H 'Authorization: Bearer {token}' {base}/Users",
                    "",
                ]
            ),
            flush=True,
        )
    app = create_app(settings)
    _settle_heap()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    return 0


async def _demo_token(db: Database, slug: str = "demo") -> str:
    """The demo organisation (created on first use) and a fresh token for this start."""
    async with db.write() as conn:
        org = await OrganizationRepository(conn).by_slug(slug)
    if org is None:
        return (await create_organization(db, slug, "Demo organisation", "demo")).token
    label = "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    async with db.write() as conn:
        return (await issue_scim_token(conn, org.id, slug, label, actor=OPERATOR)).token


def _settle_heap() -> None:
    """Tune the garbage collector for a long-running server, once everything is imported.

    The import-time heap (modules, schemas, SQLAlchemy metadata: a few hundred thousand objects)
    lives as long as the process; freezing it spares every full collection from re-scanning it.
    Requests allocate thousands of short-lived containers each: collecting the youngest generation
    every 20,000 allocations instead of every 700 lets most of them die before a collection sees
    them, instead of promoting the objects of requests in flight to generations scanned later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
