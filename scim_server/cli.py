"""The ``scimtrail`` command: serve, manage organisations and credentials, operate the audit log."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from .protocol.errors import ScimError
from .services.organizations import create_organization, issue_scim_token
from .settings import Settings
from .storage.engine import Database, create_engine
from .storage.migrations import upgrade
from .storage.organizations import OrganizationRepository

__all__ = ["main"]


def _run(coro_factory: Callable[[Database], Coroutine[Any, Any, int]], settings: Settings) -> int:
    async def runner() -> int:
        db = Database(create_engine(settings.database_url))
        try:
            await upgrade(db.engine)
            return await coro_factory(db)
        finally:
            await db.dispose()

    return asyncio.run(runner())


def _org_create(args: argparse.Namespace, settings: Settings) -> int:
    async def go(db: Database) -> int:
        issued = await create_organization(db, args.slug, args.name, args.token_label)
        print(f"Organisation: {args.slug}")
        print(f"SCIM token ({issued.label}): {issued.token}")
        print("Store the token now: it is shown only once.")
        return 0

    return _run(go, settings)


async def _demo_token(db: Database, slug: str = "demo") -> str:
    """The demo organisation (created on first use) and a fresh token for this start."""
    from .services.organizations import OPERATOR

    async with db.write() as conn:
        org = await OrganizationRepository(conn).by_slug(slug)
    if org is None:
        return (await create_organization(db, slug, "Demo organisation", "demo")).token
    label = "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    async with db.write() as conn:
        return (await issue_scim_token(conn, org.id, slug, label, actor=OPERATOR)).token


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .app import configure, create_app

    configure(settings)
    if args.demo:
        token = _run(lambda db: _demo_token(db), settings)  # type: ignore[arg-type,return-value]
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
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scimtrail", description="SCIM 2.0 provisioning with an audit trail.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="create a demo organisation and print a token")
    serve.set_defaults(handler=_serve)

    org = sub.add_parser("org", help="organisations").add_subparsers(dest="org_command", required=True)
    create = org.add_parser("create", help="create an organisation and print its first SCIM token")
    create.add_argument("slug")
    create.add_argument("--name", default=None)
    create.add_argument("--token-label", default="default")
    create.set_defaults(handler=_org_create)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return int(args.handler(args, settings))
    except ScimError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
