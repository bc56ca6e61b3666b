"""Per-request cost of our app without HTTP: ASGI calls straight into ``create_app``.

    .venv/bin/python bench/inprocess.py [--users 10000] [--repeat 200] [--profile OPERATION]

The quickest loop for working on the hot paths: the figures are the app's own cost (middleware,
protocol, services, storage) per request, wall and CPU (``process_time``: every thread of the
process), one request at a time. ``--profile "POST /Users"`` (any operation name printed) runs
cProfile over that operation and prints the top functions by own time
(``BENCH_PROFILE_DUMP=FILE`` also saves the raw profile for ``pstats``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import orjson
from _harness import Reply, _human, asgi_call, machine_note, parse_args, say, table
from _scimtrail import Dataset, build_dataset
from _seed import user_id, user_name

from scim_server.app import configure, create_app
from scim_server.settings import Settings


async def _lifespan(app: Any) -> Callable[[], Awaitable[None]]:
    """Run the app's lifespan startup; return the coroutine that shuts it down."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"startup failed: {started}")

    async def shutdown() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return shutdown


def _new_user(i: int) -> bytes:
    name = f"inproc-{i}@new.example"
    return orjson.dumps(
        {
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            ],
            "userName": name,
            "externalId": f"inproc-{i}",
            "name": {"givenName": "New", "familyName": f"User{i}", "formatted": f"New User{i}"},
            "displayName": f"New User{i}",
            "active": True,
            "emails": [{"value": name, "type": "work", "primary": True}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": str(i), "department": "x"},
        }
    )


def operations(app: Any, dataset: Dataset) -> dict[str, Callable[[int], Awaitable[Reply]]]:
    headers = {"authorization": f"Bearer {dataset.token}", "content-type": "application/scim+json"}
    rng = random.Random(3)
    joiners = iter(dataset.joiners)
    big, small = dataset.groups["big"], dataset.groups["small"]

    def call(method: str, path: str, query: str = "", body: bytes = b"") -> Awaitable[Reply]:
        return asgi_call(app, method, path, query=query, body=body, headers=headers)

    def add(uid: str) -> bytes:
        return orjson.dumps(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}],
            }
        )

    counter = iter(range(10**9))
    return {
        "POST /Users": lambda i: call("POST", "/scim/v2/Users", body=_new_user(next(counter))),
        'GET /Users?filter=userName eq "…"': lambda i: call(
            "GET", "/scim/v2/Users", "filter=" + quote(f'userName eq "{user_name(rng.randrange(dataset.users))}"')
        ),
        "GET /Users/{id}": lambda i: call("GET", f"/scim/v2/Users/{user_id(rng.randrange(dataset.users))}"),
        "GET /Groups/{big}?excludedAttributes=members": lambda i: call(
            "GET", f"/scim/v2/Groups/{big}", "excludedAttributes=members"
        ),
        "PATCH add member to small group ?excludedAttributes=members": lambda i: call(
            "PATCH", f"/scim/v2/Groups/{small}", "excludedAttributes=members", add(user_id(next(joiners)))
        ),
        "GET /Users?startIndex=…&count=100 (last page)": lambda i: call(
            "GET", "/scim/v2/Users", f"startIndex={max(dataset.users - 99, 1)}&count=100"
        ),
    }


async def run(args: argparse.Namespace, dataset: Dataset) -> None:
    settings = Settings.from_env(database_url=dataset.url, log_level=args.log_level)
    configure(settings)
    app = create_app(settings)
    shutdown = await _lifespan(app)
    try:
        ops = operations(app, dataset)
        for call in ops.values():  # warm
            for i in range(3):
                await call(i)
        if args.profile:
            await _profile(ops[args.profile], args.repeat, args.sort)
            return
        rows = []
        for name, call in ops.items():
            n = args.repeat if "page" not in name else max(args.repeat // 10, 5)
            wall, cpu = [], []
            for i in range(n):
                c0, t0 = time.process_time(), time.perf_counter()
                reply = await call(i)
                wall.append((time.perf_counter() - t0) * 1e6)
                cpu.append((time.process_time() - c0) * 1e6)
                if reply.status >= 300:
                    raise RuntimeError(f"{name} -> {reply.status}: {reply.body[:300]!r}")
            rows.append([name, _human(statistics.median(wall)), _human(statistics.median(cpu)), str(n)])
        say(table(["operation", "wall p50", "CPU p50", "n"], rows))
    finally:
        await shutdown()


async def _profile(call: Callable[[int], Awaitable[Reply]], n: int, sort: str) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(n):
        await call(i)
    profiler.disable()
    if dump := os.environ.get("BENCH_PROFILE_DUMP"):
        profiler.dump_stats(dump)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(int(os.environ.get("BENCH_PROFILE_LINES", "40")))
    say(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--profile", default=None, help="an operation name to profile instead of timing all")
    parser.add_argument("--log-level", default="warning", help="the server's log level (info logs every request)")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key for --profile (tottime, cumulative)")
    args = parse_args(parser, users=200, repeat=20)
    say(machine_note())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    groups = {"big": args.users, "small": 10}
    dataset = build_dataset(args.users, joiners=args.repeat * 2 + 20, groups=groups)
    try:
        asyncio.run(run(args, dataset))
    finally:
        dataset.remove()


if __name__ == "__main__":
    main()
