"""Our server under test: a seeded database, the ``scimtrail`` process, a keep-alive client.

The database is made the way ``scimtrail org create`` makes one (the migrations, then the
organisation and its first token, through the same service), then filled with SQLAlchemy Core
using the product's tables and rows shaped like those ``POST /Users`` stores.
"""

from __future__ import annotations

import asyncio
import http.client
import shutil
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from _harness import SCIMTRAIL, Server, free_port, say, table, workdir
from _seed import group_id, org_id_of, seed_group, seed_users, user_id

from scim_server.services.organizations import create_organization
from scim_server.storage.engine import Database, create_engine
from scim_server.storage.migrations import upgrade

ORG = "bench"


@dataclass
class Dataset:
    directory: Path
    url: str
    token: str
    users: int
    #: Seeded user numbers that belong to no group: the members PATCH benchmarks add.
    joiners: range = range(0)
    groups: dict[str, str] = field(default_factory=dict)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


async def _create(url: str) -> str:
    """What ``scimtrail org create`` does: migrate, create the organisation, return its token."""
    db = Database(create_engine(url))
    try:
        await upgrade(db.engine)
        return (await create_organization(db, ORG)).token
    finally:
        await db.dispose()


async def _fill(url: str, users: int, joiners: int, groups: dict[str, int]) -> dict[str, str]:
    db = Database(create_engine(url))
    try:
        async with db.write() as conn:
            org = await org_id_of(conn, ORG)
            await seed_users(conn, org, users + joiners)
            ids = {}
            for name, size in groups.items():
                ids[name] = await seed_group(conn, org, name, range(size))
        return ids
    finally:
        await db.dispose()


def build_dataset(users: int, *, joiners: int = 0, groups: dict[str, int] | None = None) -> Dataset:
    """A fresh SQLite database with ``users`` users (+ ``joiners``) and groups of the given sizes.

    Group members are the first users, so a group of 100,000 holds users 0..99,999; joiners are
    numbered after the users and belong to no group.
    """
    directory = workdir("data")
    url = f"sqlite+aiosqlite:///{directory / 'scimtrail.db'}"
    token = asyncio.run(_create(url))
    t0 = time.monotonic()
    ids = asyncio.run(_fill(url, users, joiners, groups or {}))
    say(
        f"seeded {users:,} users (+{joiners:,} joiners), groups {groups or {}} "
        f"in {time.monotonic() - t0:.1f}s ({directory})"
    )
    return Dataset(directory, url, token, users, range(users, users + joiners), ids)


def our_server(dataset: Dataset, **env: str) -> Server:
    """``scimtrail serve`` on the dataset, as shipped but for the settings in ``env``."""
    port = free_port()
    return Server(
        "scimtrail",
        [SCIMTRAIL, "serve", "--host", "127.0.0.1", "--port", str(port)],
        port,
        env={"SCIMTRAIL_DATABASE_URL": dataset.url, **env},
        log=dataset.directory / "server.log",
    )


# -- a keep-alive client for latency figures -------------------------------------------------------


class Client:
    """One persistent HTTP/1.1 connection; ``time`` returns (status, body, milliseconds).

    http.client adds well under 0.1 ms per request, small next to the figures it measures and
    the same for every variant compared.
    """

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def time(self, method: str, path: str, body: Any = None) -> tuple[int, bytes, float]:
        payload = orjson.dumps(body) if body is not None else None
        t0 = time.perf_counter()
        self.conn.request(method, path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class Latency:
    samples: tuple[float, ...]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (
            f"p50 {self.p50:.2f} ms  p90 {self.pct(0.9):.2f} ms  p99 {self.pct(0.99):.2f} ms  (n={len(self.samples)})"
        )


def sample(
    client: Client,
    requests: Iterator[tuple[str, str, Any]] | Sequence[tuple[str, str, Any]],
    *,
    expect: Sequence[int] = (200,),
) -> Latency:
    out = []
    for method, path, body in requests:
        status, data, ms = client.time(method, path, body)
        if status not in expect:
            raise RuntimeError(f"{method} {path} -> {status}: {data[:300]!r}")
        out.append(ms)
    return Latency(tuple(out))


def interleaved(
    client: Client,
    variants: dict[str, Callable[[int], tuple[str, str, Any]]],
    n: int,
    *,
    expect: Sequence[int] = (200,),
    budget_s: float = 60.0,
) -> dict[str, Latency]:
    """Alternate the variants request by request, so machine noise lands on all of them alike.

    Stops early (after at least 3 rounds) once ``budget_s`` is spent: a pathological variant
    is reported from fewer samples rather than loading the machine for minutes.
    """
    samples: dict[str, list[float]] = {k: [] for k in variants}
    deadline = time.monotonic() + budget_s
    for i in range(n):
        if i >= 3 and time.monotonic() > deadline:
            break
        for name, make in variants.items():
            method, path, body = make(i)
            status, data, ms = client.time(method, path, body)
            if status not in expect:
                raise RuntimeError(f"{name}: {method} {path} -> {status}: {data[:300]!r}")
            samples[name].append(ms)
    return {k: Latency(tuple(v)) for k, v in samples.items()}


# -- figures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    name: str
    value: str
    target: str
    ok: bool | None

    @property
    def verdict(self) -> str:
        return "—" if self.ok is None else ("met" if self.ok else "MISSED")


def report(title: str, figures: Sequence[Figure]) -> None:
    say()
    say(title)
    say(table(["figure", "measured", "target", "verdict"], [[f.name, f.value, f.target, f.verdict] for f in figures]))


@contextmanager
def serving(dataset: Dataset, **env: str) -> Iterator[Server]:
    server = our_server(dataset, **env)
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


def user_path(n: int) -> str:
    return f"/scim/v2/Users/{user_id(n)}"


__all__ = [
    "Client",
    "Dataset",
    "Figure",
    "Latency",
    "build_dataset",
    "group_id",
    "interleaved",
    "our_server",
    "report",
    "sample",
    "serving",
    "user_id",
]
