"""``credential.rejected``: one audit event per (credential prefix, reason, IP) and 5-minute window.

A guessing or misconfigured client can present a bad credential thousands of times a minute; the
audit log gets one event per window with a ``count`` instead of one per request. Only rejections
that can be tied to an organisation are audited (a known prefix with a wrong secret, a revoked or
expired credential); a prefix nobody issued belongs to no organisation's log and is only logged.
The presented secret is never kept: the public prefix, the reason and the IP are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

import audit
from scim_server.storage.engine import Database

__all__ = ["RejectionLog", "Rejection"]

_log = structlog.get_logger("scimtrail.auth")
_SYSTEM = audit.Actor(type="system", name="scimtrail")
_MAX_TALLIES = 10_000


@dataclass(frozen=True, slots=True)
class Rejection:
    organization: str
    #: What was presented: ``scim_token``, ``oauth_access_token``, ``oauth_client``, ``admin_key``.
    credential_type: str
    #: The credential's label, the customer-facing name it is known by.
    label: str
    prefix: str
    reason: str
    ip: str | None


@dataclass(slots=True)
class _Tally:
    opened: float
    first_seen: datetime
    last_seen: datetime
    count: int = 0


class RejectionLog:
    def __init__(self, db: Database, *, window: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.window = window
        self._clock = clock
        self._tallies: dict[Rejection, _Tally] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._spill: asyncio.Task[None] | None = None

    def add(self, rejection: Rejection) -> None:
        now = datetime.now(UTC)
        tally = self._tallies.get(rejection)
        if tally is None:
            if len(self._tallies) >= _MAX_TALLIES and (self._spill is None or self._spill.done()):
                # A spray from very many addresses: report what we have now rather than hold it all.
                self._spill = asyncio.get_running_loop().create_task(self.flush(everything=True))
            tally = self._tallies[rejection] = _Tally(self._clock(), now, now)
        tally.count += 1
        tally.last_seen = now
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        # Runs while there is something to report: sleeps to the end of the oldest window.
        while self._tallies:
            oldest = min(t.opened for t in self._tallies.values())
            await asyncio.sleep(max(0.0, oldest + self.window - self._clock()))
            await self.flush()

    async def flush(self, *, everything: bool = False) -> None:
        """Write the windows that have closed (or all of them) as one event each."""
        now = self._clock()
        due = [(r, t) for r, t in self._tallies.items() if everything or now - t.opened >= self.window]
        if not due:
            return
        for rejection, _ in due:
            del self._tallies[rejection]
        drafts = [_draft(r, t) for r, t in due]
        try:
            async with self.db.write() as conn:
                await audit.record_many(conn, drafts)
        except Exception:
            _log.exception("credential rejections not recorded", events=len(drafts))

    async def aclose(self) -> None:
        if self._spill is not None:
            await asyncio.gather(self._spill, return_exceptions=True)
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        await self.flush(everything=True)


def _draft(rejection: Rejection, tally: _Tally) -> audit.EventDraft:
    return audit.EventDraft(
        organization=rejection.organization,
        action="credential.rejected",
        actor=_SYSTEM,
        targets=(audit.Target(type=rejection.credential_type, name=rejection.label),),
        context=audit.RequestContext(ip=rejection.ip),
        metadata={
            "reason": rejection.reason,
            "prefix": rejection.prefix,
            "count": tally.count,
            "first_seen": tally.first_seen.isoformat(timespec="milliseconds"),
            "last_seen": tally.last_seen.isoformat(timespec="milliseconds"),
        },
        occurred_at=tally.last_seen,
    )
