"""The SCIM service's tables.

A resource keeps its canonical SCIM JSON (everything the client may write, with attribute names
normalised to the schema's spelling) in ``data``; the columns beside it are the few that are
indexed, unique or needed on every request. ``id``, ``meta`` and derived attributes (a user's
``groups``, a group's ``members``) are never stored in ``data``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import JSONDocument, UTCDateTime, utcnow

__all__ = [
    "Organization",
    "ScimToken",
    "ScimUser",
    "ScimGroup",
    "GroupMember",
    "OAuthClient",
    "OAuthAccessToken",
    "AdminAccount",
    "AdminKey",
    "metadata",
    "table_of",
]

metadata = SQLModel.metadata

_PK = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid alias


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"

    id: int | None = Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))
    slug: str = Field(sa_column=Column(String(63), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ScimToken(SQLModel, table=True):
    """A SCIM bearer token ``scim_<prefix>_<secret>``; only SHA-256 of the whole token is kept."""

    __tablename__ = "scim_tokens"

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    org_id: int = Field(
        sa_column=Column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    label: str = Field(sa_column=Column(String(63), nullable=False))
    prefix: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    #: Set when ``scim_token.expired`` was recorded, so that the event is written once.
    expiry_recorded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class ScimUser(SQLModel, table=True):
    __tablename__ = "scim_users"
    __table_args__ = (
        UniqueConstraint("org_id", "user_name_norm", name="uq_scim_users_org_user_name"),
        Index("ix_scim_users_org_pk", "org_id", "pk"),
        Index("ix_scim_users_org_external_id", "org_id", "external_id"),
    )

    #: Internal, monotonically increasing: the stable default order for paging and cursors.
    pk: int | None = Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))
    id: str = Field(sa_column=Column(String(36), nullable=False, unique=True))
    org_id: int = Field(sa_column=Column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False))
    user_name: str = Field(sa_column=Column(String(512), nullable=False))
    #: ``userName`` lower-cased: uniqueness and equality are case-insensitive (RFC 7643 §4.1.1).
    user_name_norm: str = Field(sa_column=Column(String(512), nullable=False))
    external_id: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    active: bool = Field(default=True, nullable=False)
    data: dict[str, Any] = Field(sa_column=Column(JSONDocument, nullable=False))
    version: int = Field(default=1, nullable=False)
    created: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_modified: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ScimGroup(SQLModel, table=True):
    __tablename__ = "scim_groups"
    __table_args__ = (
        UniqueConstraint("org_id", "display_name_norm", name="uq_scim_groups_org_display_name"),
        Index("ix_scim_groups_org_pk", "org_id", "pk"),
        Index("ix_scim_groups_org_external_id", "org_id", "external_id"),
    )

    pk: int | None = Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))
    id: str = Field(sa_column=Column(String(36), nullable=False, unique=True))
    org_id: int = Field(sa_column=Column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False))
    display_name: str = Field(sa_column=Column(String(512), nullable=False))
    display_name_norm: str = Field(sa_column=Column(String(512), nullable=False))
    external_id: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    data: dict[str, Any] = Field(sa_column=Column(JSONDocument, nullable=False))
    version: int = Field(default=1, nullable=False)
    created: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_modified: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class GroupMember(SQLModel, table=True):
    """One row per (group, member): adding or removing a member touches one row."""

    __tablename__ = "scim_group_members"
    __table_args__ = (Index("ix_scim_group_members_member", "member_id"),)

    group_id: str = Field(
        sa_column=Column(String(36), ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True)
    )
    member_id: str = Field(sa_column=Column(String(36), primary_key=True))
    org_id: int = Field(sa_column=Column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False))
    #: "User" or "Group" (nested groups).
    member_type: str = Field(sa_column=Column(String(8), nullable=False))
    display: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))


class OAuthClient(SQLModel, table=True):
    """An OAuth 2.0 client (RFC 6749 §2) using the client credentials grant; only SHA-256 of its secret is kept."""

    __tablename__ = "oauth_clients"

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    org_id: int = Field(
        sa_column=Column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    label: str = Field(sa_column=Column(String(63), nullable=False))
    #: Public; doubles as the lookup key for client authentication.
    client_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    secret_rotated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class OAuthAccessToken(SQLModel, table=True):
    """An access token ``sat_<prefix>_<secret>`` issued to a client; valid while unexpired and the client is not revoked."""

    __tablename__ = "oauth_access_tokens"

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    client_pk: str = Field(
        sa_column=Column(String(36), ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    prefix: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    scope: str = Field(sa_column=Column(String(200), nullable=False))
    issued_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class AdminAccount(SQLModel, table=True):
    """A person who manages (``admin``) or reads the audit log of (``auditor``) one organisation."""

    __tablename__ = "admin_accounts"
    __table_args__ = (UniqueConstraint("org_id", "email_norm", name="uq_admin_accounts_org_email"),)

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    org_id: int = Field(sa_column=Column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False))
    email: str = Field(sa_column=Column(String(320), nullable=False))
    email_norm: str = Field(sa_column=Column(String(320), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class AdminKey(SQLModel, table=True):
    """A personal API key ``sk_<prefix>_<secret>`` of an admin or auditor account."""

    __tablename__ = "admin_keys"

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    account_id: str = Field(
        sa_column=Column(String(36), ForeignKey("admin_accounts.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    org_id: int = Field(sa_column=Column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False))
    label: str = Field(sa_column=Column(String(63), nullable=False))
    prefix: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a ``table=True`` model."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]  # set by SQLModel's metaclass, not declared
