"""Credentials in SQL: SCIM tokens, OAuth clients and their access tokens, admin accounts and keys.

Every read and change is scoped by organisation: a row of another organisation is simply not
found. Secrets are never here, only their SHA-256 digests, and those never leave this module
except towards :mod:`scim_server.auth`, which compares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from audit import translate_unique
from scim_server.protocol.errors import Conflict

from .tables import AdminAccount, AdminKey, OAuthAccessToken, OAuthClient, Organization, ScimToken, table_of
from .types import utcnow

__all__ = [
    "CredentialKind",
    "CredentialRecord",
    "CredentialRepository",
    "TOKEN_COLUMNS",
    "CLIENT_COLUMNS",
    "ACCOUNT_COLUMNS",
    "KEY_COLUMNS",
]

_orgs = table_of(Organization)
_tokens = table_of(ScimToken)
_clients = table_of(OAuthClient)
_access = table_of(OAuthAccessToken)
_accounts = table_of(AdminAccount)
_keys = table_of(AdminKey)

#: The three bearer credential families, by the ``<kind>_`` that starts them.
CredentialKind = Literal["scim", "sat", "sk"]

#: Columns that may be shown: never ``secret_hash``.
TOKEN_COLUMNS = (
    _tokens.c.id,
    _tokens.c.label,
    _tokens.c.prefix,
    _tokens.c.created_at,
    _tokens.c.expires_at,
    _tokens.c.revoked_at,
    _tokens.c.last_used_at,
)
CLIENT_COLUMNS = (
    _clients.c.id,
    _clients.c.label,
    _clients.c.client_id,
    _clients.c.created_at,
    _clients.c.secret_rotated_at,
    _clients.c.revoked_at,
    _clients.c.last_used_at,
)
ACCOUNT_COLUMNS = (_accounts.c.id, _accounts.c.email, _accounts.c.role, _accounts.c.created_at)
KEY_COLUMNS = (
    _keys.c.id,
    _keys.c.account_id,
    _keys.c.label,
    _keys.c.prefix,
    _keys.c.created_at,
    _keys.c.expires_at,
    _keys.c.revoked_at,
    _keys.c.last_used_at,
)

_USAGE_TABLES = {"scim": _tokens, "sat": _clients, "sk": _keys}


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """What authentication needs to know about a presented credential, found by its public part."""

    kind: CredentialKind
    #: The row to which usage is attributed: the token, the OAuth client, the admin key.
    id: str
    org_id: int
    org_slug: str
    #: ``scim_token`` | ``oauth_client`` | ``admin`` | ``auditor``
    principal_kind: str
    #: A token or client label, an account email.
    name: str
    secret_hash: str
    expires_at: datetime | None
    revoked: bool
    #: The label of the credential itself (for audit targets); equals ``name`` except for admin keys.
    label: str
    expiry_recorded: bool = False


class CredentialRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ---- authentication lookups ---------------------------------------------------------------

    async def by_prefix(self, kind: CredentialKind, prefix: str) -> CredentialRecord | None:
        if kind == "scim":
            row = (
                await self.conn.execute(
                    select(
                        _tokens.c.id,
                        _tokens.c.label,
                        _tokens.c.secret_hash,
                        _tokens.c.expires_at,
                        _tokens.c.revoked_at,
                        _tokens.c.expiry_recorded_at,
                        _orgs.c.id.label("org_id"),
                        _orgs.c.slug,
                    )
                    .join(_orgs, _orgs.c.id == _tokens.c.org_id)
                    .where(_tokens.c.prefix == prefix)
                )
            ).first()
            if row is None:
                return None
            return CredentialRecord(
                kind="scim",
                id=row.id,
                org_id=row.org_id,
                org_slug=row.slug,
                principal_kind="scim_token",
                name=row.label,
                secret_hash=row.secret_hash,
                expires_at=row.expires_at,
                revoked=row.revoked_at is not None,
                label=row.label,
                expiry_recorded=row.expiry_recorded_at is not None,
            )
        if kind == "sat":
            access = (
                await self.conn.execute(
                    select(
                        _clients.c.id,
                        _clients.c.label,
                        _clients.c.revoked_at,
                        _access.c.secret_hash,
                        _access.c.expires_at,
                        _orgs.c.id.label("org_id"),
                        _orgs.c.slug,
                    )
                    .join(_clients, _clients.c.id == _access.c.client_pk)
                    .join(_orgs, _orgs.c.id == _clients.c.org_id)
                    .where(_access.c.prefix == prefix)
                )
            ).first()
            if access is None:
                return None
            # Usage is attributed to the client: access tokens live an hour, the client for years.
            return CredentialRecord(
                kind="sat",
                id=access.id,
                org_id=access.org_id,
                org_slug=access.slug,
                principal_kind="oauth_client",
                name=access.label,
                secret_hash=access.secret_hash,
                expires_at=access.expires_at,
                revoked=access.revoked_at is not None,
                label=access.label,
            )
        key = (
            await self.conn.execute(
                select(
                    _keys.c.id,
                    _keys.c.label,
                    _keys.c.secret_hash,
                    _keys.c.expires_at,
                    _keys.c.revoked_at,
                    _accounts.c.email,
                    _accounts.c.role,
                    _orgs.c.id.label("org_id"),
                    _orgs.c.slug,
                )
                .join(_accounts, _accounts.c.id == _keys.c.account_id)
                .join(_orgs, _orgs.c.id == _keys.c.org_id)
                .where(_keys.c.prefix == prefix)
            )
        ).first()
        if key is None:
            return None
        return CredentialRecord(
            kind="sk",
            id=key.id,
            org_id=key.org_id,
            org_slug=key.slug,
            principal_kind=key.role,
            name=key.email,
            secret_hash=key.secret_hash,
            expires_at=key.expires_at,
            revoked=key.revoked_at is not None,
            label=key.label,
        )

    async def client_for_authentication(self, client_id: str) -> Any | None:
        """An OAuth client by its public ``client_id``, with its organisation's slug."""
        return (
            await self.conn.execute(
                select(*CLIENT_COLUMNS, _clients.c.secret_hash, _clients.c.org_id, _orgs.c.slug)
                .join(_orgs, _orgs.c.id == _clients.c.org_id)
                .where(_clients.c.client_id == client_id)
            )
        ).first()

    async def mark_expiry_recorded(self, token_id: str, at: datetime) -> bool:
        """Claim the one ``scim_token.expired`` event of a token: True for exactly one caller."""
        result = await self.conn.execute(
            update(_tokens)
            .where(_tokens.c.id == token_id, _tokens.c.expiry_recorded_at.is_(None))
            .values(expiry_recorded_at=at)
        )
        return bool(result.rowcount)

    async def record_usage(self, usage: Mapping[tuple[CredentialKind, str], datetime]) -> None:
        """Store ``last_used_at`` for many credentials, keyed by (family, id); never moves it backwards."""
        for (family, credential_id), at in usage.items():
            table = _USAGE_TABLES[family]
            await self.conn.execute(
                update(table)
                .where(table.c.id == credential_id, (table.c.last_used_at.is_(None)) | (table.c.last_used_at < at))
                .values(last_used_at=at)
            )

    # ---- SCIM tokens --------------------------------------------------------------------------

    async def list_tokens(self, org_id: int) -> list[Any]:
        return list(
            await self.conn.execute(
                select(*TOKEN_COLUMNS).where(_tokens.c.org_id == org_id).order_by(_tokens.c.created_at, _tokens.c.id)
            )
        )

    async def token(self, org_id: int, token_id: str) -> Any | None:
        return (
            await self.conn.execute(select(*TOKEN_COLUMNS).where(_tokens.c.org_id == org_id, _tokens.c.id == token_id))
        ).first()

    async def revoke_token(self, org_id: int, token_id: str, at: datetime) -> bool:
        result = await self.conn.execute(
            update(_tokens)
            .where(_tokens.c.org_id == org_id, _tokens.c.id == token_id, _tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount)

    async def expire_token(self, org_id: int, token_id: str, at: datetime) -> None:
        """Bring a token's expiry forward to ``at`` (never later than an expiry it already has)."""
        await self.conn.execute(
            update(_tokens)
            .where(
                _tokens.c.org_id == org_id,
                _tokens.c.id == token_id,
                (_tokens.c.expires_at.is_(None)) | (_tokens.c.expires_at > at),
            )
            .values(expires_at=at)
        )

    # ---- OAuth clients ------------------------------------------------------------------------

    async def add_client(self, *, id: str, org_id: int, label: str, client_id: str, digest: str) -> None:
        await self.conn.execute(
            insert(_clients).values(
                id=id, org_id=org_id, label=label, client_id=client_id, secret_hash=digest, created_at=utcnow()
            )
        )

    async def list_clients(self, org_id: int) -> list[Any]:
        return list(
            await self.conn.execute(
                select(*CLIENT_COLUMNS)
                .where(_clients.c.org_id == org_id)
                .order_by(_clients.c.created_at, _clients.c.id)
            )
        )

    async def client(self, org_id: int, id: str) -> Any | None:
        return (
            await self.conn.execute(select(*CLIENT_COLUMNS).where(_clients.c.org_id == org_id, _clients.c.id == id))
        ).first()

    async def set_client_secret(self, org_id: int, id: str, digest: str, at: datetime) -> bool:
        result = await self.conn.execute(
            update(_clients)
            .where(_clients.c.org_id == org_id, _clients.c.id == id, _clients.c.revoked_at.is_(None))
            .values(secret_hash=digest, secret_rotated_at=at)
        )
        return bool(result.rowcount)

    async def revoke_client(self, org_id: int, id: str, at: datetime) -> bool:
        result = await self.conn.execute(
            update(_clients)
            .where(_clients.c.org_id == org_id, _clients.c.id == id, _clients.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        if result.rowcount:
            # Not needed for correctness (authentication checks the client), but dead rows go now.
            await self.conn.execute(delete(_access).where(_access.c.client_pk == id))
        return bool(result.rowcount)

    async def add_access_token(
        self,
        *,
        id: str,
        client_pk: str,
        prefix: str,
        digest: str,
        scope: str,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None:
        await self.conn.execute(
            insert(_access).values(
                id=id,
                client_pk=client_pk,
                prefix=prefix,
                secret_hash=digest,
                scope=scope,
                issued_at=issued_at,
                expires_at=expires_at,
            )
        )

    async def purge_access_tokens(self, before: datetime) -> int:
        result = await self.conn.execute(delete(_access).where(_access.c.expires_at < before))
        return int(result.rowcount or 0)

    # ---- admin accounts and keys --------------------------------------------------------------

    async def add_account(self, *, id: str, org_id: int, email: str, role: str) -> None:
        with translate_unique(
            lambda: Conflict(f"An account with email {email!r} already exists in this organisation.")
        ):
            async with self.conn.begin_nested():
                await self.conn.execute(
                    insert(_accounts).values(
                        id=id, org_id=org_id, email=email, email_norm=email.lower(), role=role, created_at=utcnow()
                    )
                )

    async def list_accounts(self, org_id: int) -> list[Any]:
        return list(
            await self.conn.execute(
                select(*ACCOUNT_COLUMNS).where(_accounts.c.org_id == org_id).order_by(_accounts.c.email_norm)
            )
        )

    async def account(self, org_id: int, id: str) -> Any | None:
        return (
            await self.conn.execute(select(*ACCOUNT_COLUMNS).where(_accounts.c.org_id == org_id, _accounts.c.id == id))
        ).first()

    async def count_admins(self, org_id: int) -> int:
        return int(
            (
                await self.conn.execute(
                    select(func.count()).where(_accounts.c.org_id == org_id, _accounts.c.role == "admin")
                )
            ).scalar_one()
        )

    async def delete_account(self, org_id: int, id: str) -> bool:
        await self.conn.execute(delete(_keys).where(_keys.c.org_id == org_id, _keys.c.account_id == id))
        result = await self.conn.execute(delete(_accounts).where(_accounts.c.org_id == org_id, _accounts.c.id == id))
        return bool(result.rowcount)

    async def add_key(
        self,
        *,
        id: str,
        account_id: str,
        org_id: int,
        label: str,
        prefix: str,
        digest: str,
        expires_at: datetime | None,
    ) -> None:
        await self.conn.execute(
            insert(_keys).values(
                id=id,
                account_id=account_id,
                org_id=org_id,
                label=label,
                prefix=prefix,
                secret_hash=digest,
                created_at=utcnow(),
                expires_at=expires_at,
            )
        )

    async def list_keys(self, org_id: int, account_id: str) -> list[Any]:
        return list(
            await self.conn.execute(
                select(*KEY_COLUMNS)
                .where(_keys.c.org_id == org_id, _keys.c.account_id == account_id)
                .order_by(_keys.c.created_at, _keys.c.id)
            )
        )

    async def key(self, org_id: int, account_id: str, key_id: str) -> Any | None:
        return (
            await self.conn.execute(
                select(*KEY_COLUMNS).where(
                    _keys.c.org_id == org_id, _keys.c.account_id == account_id, _keys.c.id == key_id
                )
            )
        ).first()

    async def revoke_key(self, org_id: int, key_id: str, at: datetime) -> bool:
        result = await self.conn.execute(
            update(_keys)
            .where(_keys.c.org_id == org_id, _keys.c.id == key_id, _keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount)
