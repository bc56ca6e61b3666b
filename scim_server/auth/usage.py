"""``last_used_at`` without a write per request: at most one per credential per interval, batched."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from scim_server.storage.credentials import CredentialKind, CredentialRepository
from scim_server.storage.engine import Database

from ._background import Background

__all__ = ["UsageTracker"]


class UsageTracker:
    """Remembers when each credential was last seen and writes it outside the request's transaction.

    The first use of a credential in this process is written at once; later ones only when the
    stored value is more than ``interval`` seconds old. Writes go out in one transaction for all
    credentials that became due while the previous one was running.
    """

    def __init__(
        self,
        db: Database,
        background: Background,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.interval = interval
        self._background = background
        self._clock = clock
        self._written: dict[tuple[CredentialKind, str], float] = {}
        self._pending: dict[tuple[CredentialKind, str], datetime] = {}
        self._flushing = False

    def seen(self, kind: CredentialKind, credential_id: str, at: datetime) -> None:
        key = (kind, credential_id)
        now = self._clock()
        last = self._written.get(key)
        if last is not None and now - last < self.interval:
            return
        self._written[key] = now
        self._pending[key] = at
        if not self._flushing:
            self._flushing = True
            self._background.spawn(self._flush(), "last_used_at")

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                async with self.db.write() as conn:
                    await CredentialRepository(conn).record_usage(batch)
        finally:
            self._flushing = False
