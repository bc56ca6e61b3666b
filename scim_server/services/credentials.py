"""Managing an organisation's credentials: SCIM tokens, OAuth clients, admin and auditor accounts.

Each change is one transaction with its audit event. Secrets are returned once, at creation or
rotation, and never again. Every lookup is scoped to the caller's organisation: another
organisation's id is simply not found (404, DESIGN §3). After any change that takes a
credential's access away, :func:`scim_server.auth.credentials_changed` tells this process's
authenticators to forget what they cached.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

import audit
from scim_server.auth import credentials_changed, secrets
from scim_server.protocol.errors import Conflict, InvalidValue, NotFound
from scim_server.storage.credentials import CredentialRepository
from scim_server.storage.engine import Database
from scim_server.storage.organizations import OrganizationRepository
from scim_server.storage.types import utcnow

from .context import Caller
from .organizations import OPERATOR, issue_scim_token, validate_slug

__all__ = [
    "AccountView",
    "ClientView",
    "Credentials",
    "KeyView",
    "OAuthClientSnapshot",
    "OrganizationView",
    "Role",
    "ROLES",
    "TokenView",
    "CredentialState",
]

Role = Literal["admin", "auditor"]
ROLES: tuple[Role, ...] = ("admin", "auditor")
CredentialState = Literal["active", "expired", "revoked"]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_MAX_EMAIL = 320
_PURGE_INTERVAL = 600.0  # seconds between sweeps of expired access tokens


@dataclass(frozen=True, slots=True)
class OrganizationView:
    id: int
    slug: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenView:
    id: str
    label: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    state: CredentialState
    #: The whole token: present only in the answer that created it.
    token: str | None = None


@dataclass(frozen=True, slots=True)
class ClientView:
    id: str
    label: str
    client_id: str
    created_at: datetime
    secret_rotated_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    state: CredentialState
    client_secret: str | None = None


@dataclass(frozen=True, slots=True)
class KeyView:
    id: str
    account_id: str
    label: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    state: CredentialState
    key: str | None = None


@dataclass(frozen=True, slots=True)
class AccountView:
    id: str
    email: str
    role: Role
    created_at: datetime
    #: The account's first key, present only in the answer that created the account.
    key: KeyView | None = None


@dataclass(frozen=True, slots=True)
class OAuthClientSnapshot:
    """What the token endpoint needs, loaded before authlib runs (it does no I/O of its own)."""

    id: str
    client_id: str
    label: str
    org_id: int
    org_slug: str
    secret_hash: str
    revoked: bool

    def check_secret(self, presented: str) -> bool:
        return secrets.matches(presented, self.secret_hash)


def _state(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> CredentialState:
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


def _token_view(row: Any, now: datetime, token: str | None = None) -> TokenView:
    return TokenView(
        row.id,
        row.label,
        row.prefix,
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
        _state(row.revoked_at, row.expires_at, now),
        token,
    )


def _client_view(row: Any, now: datetime, secret: str | None = None) -> ClientView:
    return ClientView(
        row.id,
        row.label,
        row.client_id,
        row.created_at,
        row.secret_rotated_at,
        row.revoked_at,
        row.last_used_at,
        _state(row.revoked_at, None, now),
        secret,
    )


def _key_view(row: Any, now: datetime, key: str | None = None) -> KeyView:
    return KeyView(
        row.id,
        row.account_id,
        row.label,
        row.prefix,
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
        _state(row.revoked_at, row.expires_at, now),
        key,
    )


def _account_view(row: Any, key: KeyView | None = None) -> AccountView:
    return AccountView(row.id, row.email, row.role, row.created_at, key)


def _future(expires_at: datetime | None, now: datetime, what: str = "expires_at") -> datetime | None:
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidValue(f"{what} must carry a time zone (e.g. 2026-12-31T00:00:00Z).")
    if expires_at is not None and expires_at <= now:
        raise InvalidValue(f"{what} must be in the future.")
    return expires_at


def validate_email(email: str) -> str:
    email = email.strip()
    if len(email) > _MAX_EMAIL or not _EMAIL.match(email):
        raise InvalidValue("email must be an email address.")
    return email


class Credentials:
    """The credential use cases; one instance per application, stateless beyond the database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._purged_at = float("-inf")

    def _event(
        self, caller: Caller, action: str, targets: tuple[audit.Target, ...], metadata: dict[str, Any] | None = None
    ) -> audit.EventDraft:
        return audit.EventDraft(
            organization=caller.organization,
            action=action,
            actor=caller.actor,
            targets=targets,
            context=caller.context,
            metadata=metadata or {},
        )

    # ---- the organisation ---------------------------------------------------------------------

    async def organization(self, caller: Caller) -> OrganizationView:
        async with self.db.read() as conn:
            row = await OrganizationRepository(conn).by_slug(caller.organization)
        if row is None or row.id != caller.org_id:
            raise NotFound("Organisation not found.")
        return OrganizationView(row.id, row.slug, row.name, row.created_at)

    async def operator(self, org_slug: str) -> Caller:
        """The operator at the command line, acting in the organisation ``org_slug``."""
        async with self.db.read() as conn:
            row = await OrganizationRepository(conn).by_slug(org_slug)
        if row is None:
            raise NotFound(f"No organisation with slug {org_slug!r}.")
        return Caller(organization=row.slug, actor=OPERATOR, role="admin", org_id=row.id)

    # ---- SCIM tokens --------------------------------------------------------------------------

    async def list_tokens(self, caller: Caller) -> list[TokenView]:
        now = utcnow()
        async with self.db.read() as conn:
            return [_token_view(r, now) for r in await CredentialRepository(conn).list_tokens(caller.org_id)]

    async def get_token(self, caller: Caller, token_id: str) -> TokenView:
        async with self.db.read() as conn:
            row = await CredentialRepository(conn).token(caller.org_id, token_id)
        if row is None:
            raise NotFound("SCIM token not found.")
        return _token_view(row, utcnow())

    async def create_token(self, caller: Caller, label: str, expires_at: datetime | None = None) -> TokenView:
        now = utcnow()
        _future(expires_at, now)
        async with self.db.write() as conn:
            issued = await issue_scim_token(
                conn,
                caller.org_id,
                caller.organization,
                label,
                actor=caller.actor,
                context=caller.context,
                expires_at=expires_at,
            )
            row = await CredentialRepository(conn).token(caller.org_id, issued.id)
        return _token_view(row, now, issued.token)

    async def revoke_token(self, caller: Caller, token_id: str) -> TokenView:
        now = utcnow()
        async with self.db.write() as conn:
            repo = CredentialRepository(conn)
            row = await repo.token(caller.org_id, token_id)
            if row is None:
                raise NotFound("SCIM token not found.")
            if await repo.revoke_token(caller.org_id, token_id, now):
                await audit.record(
                    conn,
                    self._event(
                        caller, "scim_token.revoked", (audit.Target("scim_token", row.label),), {"prefix": row.prefix}
                    ),
                )
            row = await repo.token(caller.org_id, token_id)
        credentials_changed()
        return _token_view(row, now)

    async def rotate_token(
        self,
        caller: Caller,
        token_id: str,
        *,
        old_expires_at: datetime | None = None,
        label: str | None = None,
        expires_at: datetime | None = None,
    ) -> TokenView:
        """A new token; the old one keeps working until ``old_expires_at`` (now if None), then stops."""
        now = utcnow()
        if old_expires_at is not None and old_expires_at.tzinfo is None:
            raise InvalidValue("expires_old_at must carry a time zone.")
        if old_expires_at is not None and old_expires_at < now:
            raise InvalidValue("expires_old_at must not be in the past.")
        _future(expires_at, now)
        cutoff = old_expires_at or now
        async with self.db.write() as conn:
            repo = CredentialRepository(conn)
            old = await repo.token(caller.org_id, token_id)
            if old is None:
                raise NotFound("SCIM token not found.")
            if _state(old.revoked_at, old.expires_at, now) != "active":
                raise Conflict("Only an active token can be rotated.")
            await repo.expire_token(caller.org_id, token_id, cutoff)
            # The new token's scim_token.created says which token it replaces and when that one stops.
            issued = await issue_scim_token(
                conn,
                caller.org_id,
                caller.organization,
                label or old.label,
                actor=caller.actor,
                context=caller.context,
                expires_at=expires_at,
                metadata={"replaces": old.prefix, "replaced_until": cutoff.isoformat(timespec="seconds")},
            )
            row = await repo.token(caller.org_id, issued.id)
        credentials_changed()
        return _token_view(row, now, issued.token)

    # ---- OAuth clients ------------------------------------------------------------------------

    async def list_clients(self, caller: Caller) -> list[ClientView]:
        now = utcnow()
        async with self.db.read() as conn:
            return [_client_view(r, now) for r in await CredentialRepository(conn).list_clients(caller.org_id)]

    async def get_client(self, caller: Caller, id: str) -> ClientView:
        async with self.db.read() as conn:
            row = await CredentialRepository(conn).client(caller.org_id, id)
        if row is None:
            raise NotFound("OAuth client not found.")
        return _client_view(row, utcnow())

    async def create_client(self, caller: Caller, label: str) -> ClientView:
        validate_slug(label, "label")
        issued = secrets.issue_client()
        id = str(uuid.uuid4())
        async with self.db.write() as conn:
            repo = CredentialRepository(conn)
            await repo.add_client(
                id=id, org_id=caller.org_id, label=label, client_id=issued.client_id, digest=issued.digest
            )
            await audit.record(
                conn,
                self._event(
                    caller,
                    "oauth_client.created",
                    (audit.Target("oauth_client", label),),
                    {"client_id": issued.client_id},
                ),
            )
            row = await repo.client(caller.org_id, id)
        return _client_view(row, utcnow(), issued.secret)

    async def rotate_client_secret(self, caller: Caller, id: str) -> ClientView:
        """A new secret; the old one stops at once. Access tokens already issued stay valid until they expire."""
        secret = secrets.new_client_secret()
        now = utcnow()
        async with self.db.write() as conn:
            repo = CredentialRepository(conn)
            row = await repo.client(caller.org_id, id)
            if row is None:
                raise NotFound("OAuth client not found.")
            if not await repo.set_client_secret(caller.org_id, id, secrets.digest(secret), now):
                raise Conflict("A revoked client's secret cannot be rotated.")
            await audit.record(
                conn,
                self._event(
                    caller,
                    "oauth_client.secret_rotated",
                    (audit.Target("oauth_client", row.label),),
                    {"client_id": row.client_id},
                ),
            )
            row = await repo.client(caller.org_id, id)
        return _client_view(row, now, secret)

    async def revoke_client(self, caller: Caller, id: str) -> ClientView:
        """Revoke a client: its secret and every access token issued to it stop at once."""
        now = utcnow()
        async with self.db.write() as conn:
            repo = CredentialRepository(conn)
            row = await repo.client(caller.org_id, id)
            if row is None:
                raise NotFound("OAuth client not found.")
            if await repo.revoke_client(caller.org_id, id, now):
                await audit.record(
                    conn,
                    self._event(
                        caller,
                        "oauth_client.revoked",
                        (audit.Target("oauth_client", row.label),),
                        {"client_id": row.client_id},
                    ),
                )
            row = await repo.client(caller.org_id, id)
        credentials_changed()
        return _client_view(row, now)

    async def load_client(self, client_id: str) -> OAuthClientSnapshot | None:
        async with self.db.read() as conn:
            row = await CredentialRepository(conn).client_for_authentication(client_id)
        if row is None:
            return None
        return OAuthClientSnapshot(
            row.id, row.client_id, row.label, row.org_id, row.slug, row.secret_hash, row.revoked_at is not None
        )

    async def record_access_token(
        self,
        client: OAuthClientSnapshot,
        token: str,
        scope: str,
        ttl_seconds: int,
        context: audit.RequestContext,
    ) -> None:
        """Store an access token issued to ``client`` (its digest only) and record ``oauth_token.issued``."""
        prefix = secrets.split(token, "sat")
        if prefix is None:
            raise ValueError("not an access token")
        now = utcnow()
        caller = Caller(
            organization=client.org_slug,
            actor=audit.Actor("oauth_client", client.label),
            context=context,
            org_id=client.org_id,
        )
        async with self.db.write() as conn:
            repo = CredentialRepository(conn)
            await repo.add_access_token(
                id=str(uuid.uuid4()),
                client_pk=client.id,
                prefix=prefix,
                digest=secrets.digest(token),
                scope=scope,
                issued_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
            await repo.record_usage({("sat", client.id): now})
            if time.monotonic() - self._purged_at > _PURGE_INTERVAL:
                # Expired access tokens are dead weight; clearing them on the way costs one indexed delete.
                self._purged_at = time.monotonic()
                await repo.purge_access_tokens(now)
            await audit.record(
                conn,
                self._event(
                    caller,
                    "oauth_token.issued",
                    (audit.Target("oauth_client", client.label),),
                    {"scope": scope, "expires_in": ttl_seconds, "prefix": prefix},
                ),
            )

    # ---- admin and auditor accounts -----------------------------------------------------------

    async def list_accounts(self, caller: Caller) -> list[AccountView]:
        async with self.db.read() as conn:
            rows = await CredentialRepository(conn).list_accounts(caller.org_id)
        return [_account_view(r) for r in rows]

    async def get_account(self, caller: Caller, id: str) -> AccountView:
        async with self.db.read() as conn:
            row = await CredentialRepository(conn).account(caller.org_id, id)
        if row is None:
            raise NotFound("Account not found.")
        return _account_view(row)

    async def create_account(self, caller: Caller, email: str, role: str, key_label: str = "default") -> AccountView:
        """A new admin or auditor account with its first API key (shown once)."""
        email = validate_email(email)
        if role not in ROLES:
            raise InvalidValue("role must be 'admin' or 'auditor'.")
        validate_slug(key_label, "key label")
        id = str(uuid.uuid4())
        async with self.db.write() as conn:
            repo = CredentialRepository(conn)
            await repo.add_account(id=id, org_id=caller.org_id, email=email, role=role)
            key = await self._add_key(conn, caller, id, email, role, key_label, None)
            row = await repo.account(caller.org_id, id)
        return _account_view(row, key)

    async def delete_account(self, caller: Caller, id: str) -> None:
        """Remove an account and its keys; the organisation's last admin cannot be removed."""
        now = utcnow()
        async with self.db.write() as conn:
            repo = CredentialRepository(conn)
            row = await repo.account(caller.org_id, id)
            if row is None:
                raise NotFound("Account not found.")
            if row.role == "admin" and await repo.count_admins(caller.org_id) <= 1:
                raise Conflict("The organisation's last admin account cannot be removed.")
            keys = await repo.list_keys(caller.org_id, id)
            active = [k for k in keys if _state(k.revoked_at, k.expires_at, now) == "active"]
            await repo.delete_account(caller.org_id, id)
            await audit.record_many(
                conn,
                [
                    self._event(
                        caller,
                        "admin_key.revoked",
                        (audit.Target("admin_key", k.label), audit.Target(row.role, row.email)),
                        {"prefix": k.prefix, "account_removed": True},
                    )
                    for k in active
                ],
            )
        credentials_changed()

    async def list_keys(self, caller: Caller, account_id: str) -> list[KeyView]:
        now = utcnow()
        async with self.db.read() as conn:
            repo = CredentialRepository(conn)
            if await repo.account(caller.org_id, account_id) is None:
                raise NotFound("Account not found.")
            return [_key_view(r, now) for r in await repo.list_keys(caller.org_id, account_id)]

    async def create_key(
        self, caller: Caller, account_id: str, label: str = "default", expires_at: datetime | None = None
    ) -> KeyView:
        validate_slug(label, "label")
        _future(expires_at, utcnow())
        async with self.db.write() as conn:
            account = await CredentialRepository(conn).account(caller.org_id, account_id)
            if account is None:
                raise NotFound("Account not found.")
            return await self._add_key(conn, caller, account_id, account.email, account.role, label, expires_at)

    async def revoke_key(self, caller: Caller, account_id: str, key_id: str) -> KeyView:
        now = utcnow()
        async with self.db.write() as conn:
            repo = CredentialRepository(conn)
            account = await repo.account(caller.org_id, account_id)
            key = await repo.key(caller.org_id, account_id, key_id) if account is not None else None
            if account is None or key is None:
                raise NotFound("API key not found.")
            if await repo.revoke_key(caller.org_id, key_id, now):
                await audit.record(
                    conn,
                    self._event(
                        caller,
                        "admin_key.revoked",
                        (audit.Target("admin_key", key.label), audit.Target(account.role, account.email)),
                        {"prefix": key.prefix},
                    ),
                )
            key = await repo.key(caller.org_id, account_id, key_id)
        credentials_changed()
        return _key_view(key, now)

    async def _add_key(
        self,
        conn: AsyncConnection,
        caller: Caller,
        account_id: str,
        email: str,
        role: str,
        label: str,
        expires_at: datetime | None,
    ) -> KeyView:
        issued = secrets.issue("sk")
        id = str(uuid.uuid4())
        repo = CredentialRepository(conn)
        await repo.add_key(
            id=id,
            account_id=account_id,
            org_id=caller.org_id,
            label=label,
            prefix=issued.prefix,
            digest=issued.digest,
            expires_at=expires_at,
        )
        await audit.record(
            conn,
            self._event(
                caller,
                "admin_key.created",
                (audit.Target("admin_key", label), audit.Target(role, email)),
                {"prefix": issued.prefix, "role": role},
            ),
        )
        return _key_view(await repo.key(caller.org_id, account_id, id), utcnow(), issued.plaintext)
