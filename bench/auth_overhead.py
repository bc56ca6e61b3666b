"""What authenticating a request costs: the SCIM auth middleware in front of a trivial endpoint.

Each figure is the median of sequential in-process ASGI calls (no HTTP parsing, no network) of:

* the bare endpoint (the baseline),
* the same endpoint behind ``ScimAuthMiddleware`` with a SCIM bearer token, an OAuth access token,
  and, behind the admin guard, an admin key — in the steady state, where a credential verified a
  moment ago is served from the authenticator's short cache;
* the same with the cache off (``cache_seconds=0``): one database lookup per request, which is what
  the first request of each credential (and every request after a revocation notice) pays.

Target (issue 4): token authentication adds < 0.3 ms per request at p50.

    .venv/bin/python bench/auth_overhead.py [--requests 3000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette
from starlette.requests import Request

from bench._harness import Reply, Timing, asgi_call, machine_note, parse_args, say, table, time_calls, workdir
from scim_server.api.admin import Guard
from scim_server.api.oauth import oauth_routes
from scim_server.api.scim_auth import ScimAuthMiddleware
from scim_server.auth import Authenticator, RateLimiter
from scim_server.services.credentials import Credentials
from scim_server.services.organizations import create_organization
from scim_server.storage.engine import Database, create_engine
from scim_server.storage.migrations import upgrade

TARGET_US = 300.0
_OK = b'{"ok":true}'


async def _endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": _OK})


def _guarded(guard: Guard) -> Callable[..., Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await guard.admin(Request(scope))
        await _endpoint(scope, receive, send)

    return app


async def _credentials(db: Database) -> dict[str, str]:
    scim_token = (await create_organization(db, "bench")).token
    svc = Credentials(db)
    acting = await svc.operator("bench")
    client = await svc.create_client(acting, "bench-client")
    account = await svc.create_account(acting, "bench@example.org", "admin")
    # The real token endpoint issues the access token (over https, as OAuth 2.0 requires).
    token_app = Starlette(routes=oauth_routes(svc, Authenticator(db), 3600))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=token_app), base_url="https://bench.local") as http:
        answer = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, client.client_secret or ""),
        )
    assert answer.status_code == 200, answer.text
    assert account.key is not None and account.key.key is not None
    return {"scim": scim_token, "oauth": answer.json()["access_token"], "admin": account.key.key}


async def _measure(db: Database, keys: dict[str, str], n: int, cache_seconds: float) -> dict[str, Timing]:
    authenticator = Authenticator(db, cache_seconds=cache_seconds)
    limiter = RateLimiter(0, 0)
    scim_app = ScimAuthMiddleware(_endpoint, authenticator, limiter)  # type: ignore[arg-type]
    admin_app = _guarded(Guard(authenticator, limiter))

    def call(app: Any, key: str | None) -> Callable[[int], Awaitable[Reply]]:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return lambda _i: asgi_call(app, "GET", "/Users", headers=headers)

    runs = {
        "bare endpoint": call(_endpoint, None),
        "SCIM bearer token": call(scim_app, keys["scim"]),
        "OAuth access token": call(scim_app, keys["oauth"]),
        "admin API key": call(admin_app, keys["admin"]),
    }
    timings: dict[str, Timing] = {}
    for name, run in runs.items():
        await time_calls(run, min(200, n), expect=200)  # warm up: caches, pools, code paths
        timings[name] = await time_calls(run, n, expect=200)
    await authenticator.aclose()
    return timings


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parse_args(parser, requests=200)
    scratch = None if args.database_url else workdir("auth")
    url = args.database_url or f"sqlite+aiosqlite:///{scratch / 'bench.db'}"
    db = Database(create_engine(url))
    try:
        await upgrade(db.engine)
        keys = await _credentials(db)
        cached = await _measure(db, keys, args.requests, cache_seconds=5.0)
        uncached = await _measure(db, keys, max(min(500, args.requests), args.requests // 3), cache_seconds=0.0)
    finally:
        await db.dispose()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    base = cached["bare endpoint"].median_us
    rows = []
    for name in cached:
        if name == "bare endpoint":
            rows.append([name, cached[name].cell(), "—", "—", "—"])
            continue
        warm, cold = cached[name], uncached[name]
        rows.append(
            [
                name,
                warm.cell(),
                f"{warm.median_us - base:.0f} µs",
                f"{warm.p90_us - base:.0f} µs",
                f"{cold.median_us - base:.0f} µs",
            ]
        )
    say(f"auth overhead — {db.dialect}, {args.requests} sequential in-process requests per row; {machine_note()}")
    say(table(["path", "p50", "added p50", "added p90", "added p50, no cache (DB lookup)"], rows))
    added = cached["SCIM bearer token"].median_us - base
    verdict = "meets" if added < TARGET_US else "MISSES"
    say(f"SCIM token authentication adds {added / 1000:.3f} ms at p50: {verdict} the < 0.3 ms target.")
    return 0 if added < TARGET_US or args.smoke else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
