"""Protocol engine decision: per-request cost of option A and option B, in-process, same database.

    .venv/bin/python bench/engine_decision/run.py [--users 10000] [--big-group 10000] [--repeat 200]

Both engines get an identical, freshly seeded SQLite database (the product's tables, WAL) and
are called straight through ASGI, one request at a time, so the figures are the engine's own
cost (protocol + storage) without HTTP parsing or client noise. The two run interleaved, one
operation at a time, so machine noise hits both alike. End-to-end HTTP throughput is measured
separately by ``throughput.py``.
"""

from __future__ import annotations

import argparse
import shutil
import asyncio
import random
import statistics
import time
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent), str(_HERE.parent.parent)]

import handbuilt  # noqa: E402
import scim2_sql  # noqa: E402
from _harness import Reply, _human, asgi_call, machine_note, say, table, workdir  # noqa: E402
from _seed import org_id_of, seed_group, seed_users, user_id, user_name  # noqa: E402

from audit.tables import OutboxRow  # noqa: E402
from scim_server.storage.engine import Database, create_engine  # noqa: E402
from scim_server.storage.tables import GroupMember, Organization, ScimGroup, ScimToken, ScimUser  # noqa: E402

TOKEN = "scim_0123456789ab_benchmarksecretbenchmarksecret"
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/scim+json"}


async def seeded_database(path: Path, users: int, big_group: int) -> tuple[Database, int, str, str]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    # Only the SCIM tables: the prototypes need nothing else, and this keeps the rig independent
    # of the rest of the migration history.
    tables = [m.__table__ for m in (Organization, ScimToken, ScimUser, ScimGroup, GroupMember, OutboxRow)]
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: tables[0].metadata.create_all(sync, tables=tables))
    db = Database(engine)
    async with db.write() as conn:
        org = await org_id_of(conn, "bench")
        await seed_users(conn, org, users)
        small = await seed_group(conn, org, "small", range(10))
        big = await seed_group(conn, org, "big", range(big_group))
    return db, org, small, big


def new_user(tag: str, i: int) -> bytes:
    name = f"{tag}-{i}@new.example"
    return orjson.dumps(
        {
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            ],
            "userName": name,
            "externalId": f"{tag}-{i}",
            "name": {"givenName": "New", "familyName": f"User{i}", "formatted": f"New User{i}"},
            "displayName": f"New User{i}",
            "active": True,
            "emails": [{"value": name, "type": "work", "primary": True}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": str(i), "department": "x"},
        }
    )


def add_member(uid: str) -> bytes:
    return orjson.dumps(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}],
        }
    )


class Engine:
    def __init__(self, name: str, app: Any, prefix: str, users: int, big_group: int, small: str, big: str) -> None:
        self.name, self.app, self.prefix = name, app, prefix
        self.users, self.big_group, self.small, self.big = users, big_group, small, big
        self._next_member = big_group  # users not yet in the big group
        self._next_small = 10
        self._posted = 0

    def call(self, method: str, path: str, **kw: Any) -> Awaitable[Reply]:
        return asgi_call(self.app, method, self.prefix + path, headers=AUTH, **kw)

    def operations(self, repeat: int, slow_repeat: int) -> dict[str, tuple[int, Callable[[int], Awaitable[Reply]], tuple[int, ...]]]:
        """Each operation: (how many calls, one call, the statuses that count as success)."""
        rng = random.Random(7)
        deep = max(self.users - 99, 1)
        cursor = ""

        def post(_: int) -> Awaitable[Reply]:
            self._posted += 1
            return self.call("POST", "/Users", body=new_user(self.name, self._posted))

        def filtered(_: int) -> Awaitable[Reply]:
            name = user_name(rng.randrange(self.users))
            return self.call("GET", "/Users", query=f'filter=userName eq "{name}"')

        def deep_page(_: int) -> Awaitable[Reply]:
            return self.call("GET", "/Users", query=f"startIndex={deep}&count=100")

        async def cursor_page(_: int) -> Reply:
            # Follow nextCursor from the first page on: every page is one request.
            nonlocal cursor
            reply = await self.call("GET", "/Users", query=f"count=100&cursor={cursor}")
            cursor = orjson.loads(reply.body).get("nextCursor", "")
            return reply

        def get_big(_: int) -> Awaitable[Reply]:
            return self.call("GET", f"/Groups/{self.big}", query="excludedAttributes=members")

        def patch(group: str, big: bool) -> Callable[[int], Awaitable[Reply]]:
            def one(_: int) -> Awaitable[Reply]:
                if big:
                    uid, self._next_member = user_id(self._next_member), self._next_member + 1
                else:
                    uid, self._next_small = user_id(self._next_small), self._next_small + 1
                return self.call("PATCH", f"/Groups/{group}", body=add_member(uid))

            return one

        ok, patched = (200,), (200, 204)
        return {
            "POST /Users": (repeat, post, (201,)),
            'GET /Users?filter=userName eq "…"': (repeat, filtered, ok),
            f"GET /Users?startIndex={deep}&count=100": (max(repeat // 4, 5), deep_page, ok),
            "GET /Users?count=100&cursor=… (following nextCursor)": (max(repeat // 4, 5), cursor_page, ok),
            "GET /Groups/{big}?excludedAttributes=members": (repeat, get_big, ok),
            "PATCH add 1 member, group of 10": (slow_repeat, patch(self.small, False), patched),
            f"PATCH add 1 member, group of {self.big_group:,}": (slow_repeat, patch(self.big, True), patched),
        }


async def interleaved(
    calls: list[Callable[[int], Awaitable[Reply]]], n: int, expect: tuple[int, ...]
) -> list[tuple[float, float]]:
    """Call each engine in turn, request by request; (median wall µs, median CPU µs) per engine.

    CPU is ``process_time`` around each call: every thread of the process, aiosqlite's included,
    and only this call's work since the calls run one at a time.
    """
    wall: list[list[float]] = [[] for _ in calls]
    cpu: list[list[float]] = [[] for _ in calls]
    for i in range(n):
        for k, call in enumerate(calls):
            c0, t0 = time.process_time(), time.perf_counter()
            reply = await call(i)
            wall[k].append((time.perf_counter() - t0) * 1e6)
            cpu[k].append((time.process_time() - c0) * 1e6)
            if reply.status not in expect:
                raise RuntimeError(f"unexpected {reply.status}: {reply.body[:500]!r}")
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu, strict=True)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--big-group", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--slow-repeat", type=int, default=7, help="repeats of the group PATCHes")
    args = parser.parse_args()
    if args.big_group + args.slow_repeat > args.users:
        parser.error("--users must exceed --big-group by at least --slow-repeat")

    say(machine_note())
    tmp = workdir("engine")
    say(f"seeding three databases: {args.users:,} users, groups of 10 and {args.big_group:,} members ({tmp})")
    db_a, org_a, small_a, big_a = await seeded_database(tmp / "a.db", args.users, args.big_group)
    db_b, org_b, small_b, big_b = await seeded_database(tmp / "b.db", args.users, args.big_group)
    db_c, org_c, small_c, big_c = await seeded_database(tmp / "c.db", args.users, args.big_group)

    app_a = scim2_sql.create_app(lambda provider: scim2_sql.SqlScimStorage(db_a, org_a, provider), TOKEN)
    app_b = handbuilt.create_app(db_b, org_b, TOKEN)
    app_c = handbuilt.create_app(db_c, org_c, TOKEN, handbuilt.ThreadStore(str(tmp / "c.db")))
    engines = [
        Engine("scim2-server", app_a, "/v2", args.users, args.big_group, small_a, big_a),
        Engine("handbuilt", app_b, "/scim/v2", args.users, args.big_group, small_b, big_b),
        Engine("handbuilt-thread", app_c, "/scim/v2", args.users, args.big_group, small_c, big_c),
    ]

    # Warm every engine (imports, statement caches, model building) before timing anything.
    for engine in engines:
        for n, call, expect in engine.operations(3, 1).values():
            await interleaved([call], min(n, 3), expect)

    ops = [engine.operations(args.repeat, args.slow_repeat) for engine in engines]
    rows = []
    for name in ops[0]:
        n, _, expect = ops[0][name]
        (wa, ca), (wb, cb), (wc, cc) = await interleaved([o[name][1] for o in ops], n, expect)
        rows.append([name, f"{_human(wa)} / {_human(ca)}", f"{_human(wb)} / {_human(cb)}", f"{_human(wc)} / {_human(cc)}", f"{ca / cb:.1f}×", str(n)])
        say(f"  {name}: A {_human(wa)} / {_human(ca)}  B {_human(wb)} / {_human(cb)}  B' {_human(wc)} / {_human(cc)}")
    say()
    say("Median per-request wall / CPU time, in-process ASGI calls interleaved request by request, lower is better")
    say(
        table(
            [
                "operation",
                "A: scim2-server + SQL storage",
                "B: hand-built (aiosqlite)",
                "B': hand-built, one SQLite thread hop",
                "A/B (CPU)",
                "n",
            ],
            rows,
        )
    )
    for db in (db_a, db_b, db_c):
        await db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
