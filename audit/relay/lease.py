"""The sealer lease: one row naming the process allowed to seal, until it expires.

A leader renews the lease on a timer and, as a fence, inside every write it makes as leader:
if a stalled process wakes after its lease passed to another, its next transaction finds the
lease gone and rolls back instead of sealing beside the new leader.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .._unique import translate_unique
from ..tables import RELAY_LEASE

__all__ = ["Lease", "LeaseLost"]

_lease = RELAY_LEASE


#: Take or extend: run inside every write the leader makes (the fence), so built once.
_TAKE = (
    update(_lease)
    .where(
        _lease.c.name == bindparam("b_name"),
        or_(_lease.c.holder == bindparam("b_holder"), _lease.c.expires_at < bindparam("b_now")),
    )
    .values(holder=bindparam("b_holder"), expires_at=bindparam("b_until"))
)


class LeaseLost(Exception):
    """This process no longer holds the lease it was acting under."""


class Lease:
    def __init__(
        self, *, holder: str, ttl: float, name: str = "sealer", clock: Callable[[], float] = time.time
    ) -> None:
        self.holder = holder
        self.ttl = ttl
        self.name = name
        self._clock = clock
        #: When the lease we last took or extended runs out (our clock); 0 if we do not hold it.
        self.held_until = 0.0

    async def hold(self, conn: AsyncConnection) -> bool:
        """Take the lease if it is free or expired, or extend it if ours. ``True`` if we hold it now."""
        now = self._clock()
        taken = await conn.execute(
            _TAKE, {"b_name": self.name, "b_holder": self.holder, "b_now": now, "b_until": now + self.ttl}
        )
        if taken.rowcount == 1:
            self.held_until = now + self.ttl
            return True
        if (await conn.execute(select(_lease.c.holder).where(_lease.c.name == self.name))).first() is not None:
            return False
        with translate_unique() as duplicate:
            async with conn.begin_nested():
                await conn.execute(insert(_lease).values(name=self.name, holder=self.holder, expires_at=now + self.ttl))
        if duplicate.violated:
            return False  # another process created it first
        self.held_until = now + self.ttl
        return True

    async def fence(self, conn: AsyncConnection) -> None:
        """Renew inside ``conn``'s transaction, or raise :class:`LeaseLost` (rolling it back)."""
        if not await self.hold(conn):
            self.held_until = 0.0
            raise LeaseLost(self.name)

    async def check(self, conn: AsyncConnection) -> None:
        """Raise :class:`LeaseLost` unless the lease is ours and unexpired, without writing: for
        transactions on the sealed log alone (``audit.LOG_SCHEMA``), which cannot renew it.
        Sealing stays exactly-once without the fence: its watermark moves under the log's lock."""
        if await self.current_holder(conn) != self.holder:
            self.held_until = 0.0
            raise LeaseLost(self.name)

    def holding(self, *, margin: float) -> bool:
        """Whether the lease we took is ours for at least ``margin`` more seconds (as far as we know)."""
        return self._clock() + margin < self.held_until

    async def release(self, conn: AsyncConnection) -> None:
        """Let the lease expire now, if it is ours, so a standby takes over at once."""
        self.held_until = 0.0
        await conn.execute(
            update(_lease).where(_lease.c.name == self.name, _lease.c.holder == self.holder).values(expires_at=0.0)
        )

    async def current_holder(self, conn: AsyncConnection) -> str | None:
        row = (
            await conn.execute(
                select(_lease.c.holder).where(_lease.c.name == self.name, _lease.c.expires_at >= self._clock())
            )
        ).first()
        return row.holder if row is not None else None
