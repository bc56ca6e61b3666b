"""``scimtrail serve`` with one change to the product applied at start, to measure that change.

    .venv/bin/python bench/tools/serve_variant.py VARIANT --host 127.0.0.1 --port P

Variants:

- ``small-pool``: two pooled SQLite connections (aiosqlite threads) instead of up to fifteen.
- ``prebuilt-statements``: the three hottest statements (insert a resource, get one by id, a
  user's groups) are module-level statements with ``bindparam`` instead of built per call
  (written against ``7b60651``; ``de871d0`` did this in the product).
- ``seal-linger``: the relay waits 20 ms after a wake-up before sealing, so concurrent requests'
  events are sealed in one transaction.
- ``audit-timers``: the audit trail's steps timed where they run, in the server under load
  (``bench/audit_in_situ.py`` reads the totals it writes to ``$BENCH_TIMINGS``).

The product is otherwise exactly what ``scimtrail serve`` runs (same settings from the
environment, same app factory, same uvicorn options).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_BENCH = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_BENCH.parent)]


def _small_pool() -> None:
    """Two pooled SQLite connections instead of SQLAlchemy's default 5 + 10 overflow: with
    aiosqlite each connection is a thread, and sixteen concurrent requests otherwise keep up to
    fifteen of them contending for the GIL."""
    from sqlalchemy.engine import make_url

    from scim_server.storage import engine as engine_module

    original = engine_module.create_async_engine

    def patched(url: Any, **kwargs: Any) -> Any:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            kwargs.update(pool_size=2, max_overflow=0)
        return original(url, **kwargs)

    engine_module.create_async_engine = patched


def _prebuilt_statements() -> None:
    """The three hottest statements built once, with ``bindparam``, instead of on every call.

    Replaces ``ResourceRepository.insert`` and ``.get`` and ``MembershipRepository.groups_of``
    with equivalents that execute module-level statements (same SQL, same results).
    """
    from sqlalchemy import bindparam, insert, select
    from sqlalchemy.exc import IntegrityError

    from scim_server.protocol.errors import Uniqueness
    from scim_server.storage import resources
    from scim_server.storage.tables import ScimGroup

    inserts: dict[Any, Any] = {}
    gets: dict[tuple[Any, bool], Any] = {}
    members, groups = resources._members, ScimGroup.__table__  # type: ignore[attr-defined]
    groups_of_one = (
        select(members.c.member_id, groups.c.id, groups.c.display_name)
        .join(groups, groups.c.id == members.c.group_id)
        .where(members.c.org_id == bindparam("org"), members.c.member_id == bindparam("member"))
        .order_by(groups.c.display_name_norm)
    )
    original_groups_of = resources.MembershipRepository.groups_of

    async def insert_(self: Any, id: str, data: dict[str, Any], now: Any) -> Any:
        stmt = inserts.get(self._t)
        if stmt is None:
            stmt = inserts[self._t] = insert(self._t).returning(self._t.c.pk)
        values = {"id": id, "org_id": self.org_id, "data": data, "version": 1, "created": now, "last_modified": now}
        values.update(self.kind.columns(data))
        try:
            result = await self.conn.execute(stmt, values)
        except IntegrityError as exc:
            if resources._is_unique_violation(exc):
                raise Uniqueness(self.kind.unique_detail) from None
            raise
        return resources.Stored(result.scalar_one(), id, data, 1, now, now)

    async def get(self: Any, id: str, *, for_update: bool = False) -> Any:
        stmt = gets.get((self._t, for_update))
        if stmt is None:
            stmt = select(*self._cols).where(self._t.c.org_id == bindparam("org"), self._t.c.id == bindparam("id"))
            stmt = gets[(self._t, for_update)] = stmt.with_for_update() if for_update else stmt
        row = (await self.conn.execute(stmt, {"org": self.org_id, "id": id})).first()
        return resources._stored(row) if row is not None else None

    async def groups_of(self: Any, member_ids: Any) -> Any:
        if len(member_ids) != 1:
            return await original_groups_of(self, member_ids)
        rows = (await self.conn.execute(groups_of_one, {"org": self.org_id, "member": member_ids[0]})).all()
        return {member_ids[0]: [(r.id, r.display_name) for r in rows]}

    resources.ResourceRepository.insert = insert_  # type: ignore[method-assign]
    resources.ResourceRepository.get = get  # type: ignore[method-assign]
    resources.MembershipRepository.groups_of = groups_of  # type: ignore[method-assign]


def _seal_linger(linger: float = 0.02) -> None:
    """The relay's seal loop waits ``linger`` seconds after a wake-up before sealing, so that one
    seal transaction takes the events of every request that committed meanwhile, instead of
    sealing (and committing) as soon as the first one appears. Everything else is unchanged."""
    import asyncio

    from audit.relay import runner

    async def seal_loop(self: Any) -> None:
        failures = 0
        while True:
            try:
                count = await self._seal_batch()
                failures = 0
            except runner.LeaseLost:
                raise
            except Exception:
                failures += 1
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                continue
            if count >= self._batch_size:
                continue
            if await self._wakeup.wait(self._poll_interval):
                await asyncio.sleep(linger)

    runner.Relay._seal_loop = seal_loop  # type: ignore[method-assign]


def _audit_timers() -> None:
    """Wrap the audit trail's hot steps with ``perf_counter_ns`` timers; a thread writes the running
    totals (``{step: [calls, items, ns]}``) as JSON to ``$BENCH_TIMINGS`` every 0.2 s.

    Only synchronous steps, or coroutines that never suspend on these paths, so each interval is
    the step's own time on the event loop's thread.
    """
    import functools
    import json
    import os
    import threading
    import time
    from collections.abc import Callable

    from audit import outbox, redaction
    from audit.sealing import watermark
    from scim_server.services import provisioning
    from scim_server.storage import engine

    totals: dict[str, list[int]] = {}

    def timed(name: str, fn: Callable[..., Any], items: Callable[..., int]) -> Callable[..., Any]:
        entry = totals.setdefault(name, [0, 0, 0])

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            result = fn(*args, **kwargs)
            entry[2] += time.perf_counter_ns() - started
            entry[0] += 1
            entry[1] += items(args, result)
            return result

        return wrapper

    def timed_coroutine(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        entry = totals.setdefault(name, [0, 0, 0])

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            result = await fn(*args, **kwargs)
            entry[2] += time.perf_counter_ns() - started
            entry[0] += 1
            entry[1] += 1
            return result

        return wrapper

    one = lambda args, result: 1  # noqa: E731
    pending = timed("write_pending", outbox.write_pending, lambda args, result: sum(len(d) for d in args[1]))
    engine.write_pending = pending
    outbox.write_pending = pending
    outbox.to_canonical = timed("to_canonical", redaction.to_canonical, one)
    outbox.insert_rows = timed("outbox insert", outbox.insert_rows, lambda args, result: len(args[1]))
    watermark.seal_sqlite = timed("seal", watermark.seal_sqlite, lambda args, result: result.count)
    watermark.link = timed("seal: link", watermark.link, lambda args, result: len(result))
    provisioning.Provisioning._record = timed_coroutine("request: record", provisioning.Provisioning._record)  # type: ignore[method-assign]

    path = os.environ["BENCH_TIMINGS"]

    def dump() -> None:
        while True:
            time.sleep(0.2)
            with open(f"{path}.tmp", "w") as out:
                json.dump(totals, out)
            os.replace(f"{path}.tmp", path)

    threading.Thread(target=dump, daemon=True, name="bench-timings").start()


VARIANTS = {
    "audit-timers": _audit_timers,
    "small-pool": _small_pool,
    "prebuilt-statements": _prebuilt_statements,
    "seal-linger": _seal_linger,
}


def main() -> None:
    variant, args = sys.argv[1], sys.argv[2:]
    VARIANTS[variant]()
    from scim_server.cli import main as scimtrail

    sys.exit(scimtrail(["serve", *args]))


if __name__ == "__main__":
    main()
