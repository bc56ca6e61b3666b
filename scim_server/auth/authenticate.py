"""Turning a presented credential into a Principal, or refusing it with one indistinguishable answer.

Three bearer credentials exist, told apart by how they start (DESIGN §3): ``scim_…`` SCIM tokens
and ``sat_…`` OAuth access tokens reach ``/scim/v2``; ``sk_…`` admin and auditor keys reach
``/api/v1``. Each is found by its public prefix and compared in constant time. Whatever the reason
for a refusal, callers answer it the same way; the reason is for logs and the audit trail only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NoReturn, cast

import structlog

import audit
from scim_server.storage.credentials import CredentialKind, CredentialRecord, CredentialRepository
from scim_server.storage.engine import Database
from scim_server.storage.types import utcnow

from . import secrets
from ._background import Background
from .changes import on_credentials_changed
from .principal import Principal
from .rejections import Rejection, RejectionLog
from .usage import UsageTracker

__all__ = ["Audience", "AuthenticationFailed", "Authenticator"]

_log = structlog.get_logger("scimtrail.auth")

#: Where a credential is presented: the SCIM API, or the admin API.
Audience = Literal["scim", "admin"]

_FAMILIES: dict[Audience, frozenset[str]] = {"scim": frozenset({"scim", "sat"}), "admin": frozenset({"sk"})}
_CREDENTIAL_TYPE = {"scim": "scim_token", "sat": "oauth_access_token", "sk": "admin_key"}
#: Compared against when no row was found, so that timing does not tell which prefixes exist.
_NO_DIGEST = "0" * 64
_MAX_CACHED = 10_000
_SYSTEM = audit.Actor(type="system", name="scimtrail")


class AuthenticationFailed(Exception):
    """Unknown, malformed, expired, revoked or meant for another API: answered alike."""

    def __init__(self, reason: str, prefix: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.prefix = prefix


@dataclass(frozen=True, slots=True)
class _Verified:
    record: CredentialRecord
    principal: Principal
    cached_at: float


class Authenticator:
    """Authenticates bearer credentials against the database, with a short cache of verified ones.

    A verified credential is remembered (by the SHA-256 of what was presented, never the
    plaintext) for ``cache_seconds``; expiry is checked on every request and any revocation in
    this process clears the cache (:func:`~.changes.credentials_changed`), so only a change made
    by another process can take up to ``cache_seconds`` to hold. ``cache_seconds=0`` turns it off.
    """

    def __init__(
        self,
        db: Database,
        *,
        cache_seconds: float = 2.0,
        usage_interval: float = 60.0,
        rejection_window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._background = Background()
        self.usage = UsageTracker(db, self._background, interval=usage_interval, clock=clock)
        self.rejections = RejectionLog(db, window=rejection_window, clock=clock)
        self._cache: dict[str, _Verified] = {}
        #: Bumped on every change notice: a lookup that began before one must not be cached.
        self._generation = 0
        self._expiry_claimed: set[str] = set()
        on_credentials_changed(self.forget_all)

    def forget_all(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def authenticate(self, header: str | None, audience: Audience, *, ip: str | None = None) -> Principal:
        """The principal behind ``Authorization: Bearer …``, or :class:`AuthenticationFailed`."""
        presented = _bearer(header)
        family = secrets.family_of(presented)
        if family not in _FAMILIES[audience]:
            raise AuthenticationFailed("wrong_audience" if family in _CREDENTIAL_TYPE else "malformed")
        prefix = secrets.split(presented, family)
        if prefix is None:
            raise AuthenticationFailed("malformed")
        digest = secrets.digest(presented)
        now = utcnow()
        hit = self._cache.get(digest)
        if hit is not None and self._clock() - hit.cached_at < self.cache_seconds:
            expires_at = hit.record.expires_at
            if expires_at is not None and expires_at <= now:
                self._cache.pop(digest, None)
            else:
                self.usage.seen(hit.record.kind, hit.record.id, now)
                return hit.principal
        generation = self._generation
        async with self.db.read() as conn:
            record = await CredentialRepository(conn).by_prefix(cast(CredentialKind, family), prefix)
        if not secrets.matches(presented, record.secret_hash if record is not None else _NO_DIGEST) or record is None:
            self._reject(record, prefix, "unknown" if record is None else "invalid_secret", ip)
        if record.revoked:
            self._reject(record, prefix, "revoked", ip)
        if record.expires_at is not None and record.expires_at <= now:
            self._on_expired(record)
            self._reject(record, prefix, "expired", ip)
        principal = Principal(
            org_id=record.org_id,
            org_slug=record.org_slug,
            kind=record.principal_kind,  # type: ignore[arg-type]
            name=record.name,
            credential_id=record.id,
        )
        if self.cache_seconds > 0 and generation == self._generation:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = _Verified(record, principal, self._clock())
        self.usage.seen(record.kind, record.id, now)
        return principal

    def reject_client(self, organization: str, label: str, client_id: str, reason: str, ip: str | None) -> None:
        """A known OAuth client failed to authenticate at the token endpoint."""
        _log.info("credential rejected", reason=reason, prefix=client_id)
        self.rejections.add(Rejection(organization, "oauth_client", label, client_id, reason, ip))

    def _reject(self, record: CredentialRecord | None, prefix: str, reason: str, ip: str | None) -> NoReturn:
        _log.info("credential rejected", reason=reason, prefix=prefix)
        if record is not None:
            self.rejections.add(
                Rejection(record.org_slug, _CREDENTIAL_TYPE[record.kind], record.label, prefix, reason, ip)
            )
        raise AuthenticationFailed(reason, prefix)

    def _on_expired(self, record: CredentialRecord) -> None:
        # Only SCIM tokens have an expiry event; the database decides which process writes it.
        if record.kind != "scim" or record.expiry_recorded or record.id in self._expiry_claimed:
            return
        self._expiry_claimed.add(record.id)
        self._background.spawn(self._record_expiry(record), "scim_token.expired")

    async def _record_expiry(self, record: CredentialRecord) -> None:
        async with self.db.write() as conn:
            if await CredentialRepository(conn).mark_expiry_recorded(record.id, utcnow()):
                await audit.record(
                    conn,
                    audit.EventDraft(
                        organization=record.org_slug,
                        action="scim_token.expired",
                        actor=_SYSTEM,
                        targets=(audit.Target(type="scim_token", name=record.label),),
                        metadata={"expired_at": record.expires_at.isoformat() if record.expires_at else None},
                    ),
                )

    async def aclose(self) -> None:
        """Write what is still pending (usage, rejection tallies, expiry events)."""
        await self._background.drain()
        await self.rejections.aclose()
        await self._background.drain()


def _bearer(header: str | None) -> str:
    if not header:
        raise AuthenticationFailed("missing")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationFailed("malformed")
    return value.strip()
