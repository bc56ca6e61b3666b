"""Credential format: ``<kind>_<prefix>_<secret>``, stored as SHA-256, found by prefix (DESIGN §3)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = [
    "IssuedClient",
    "IssuedSecret",
    "digest",
    "family_of",
    "issue",
    "issue_client",
    "matches",
    "new_client_secret",
    "split",
]

_PREFIX_BYTES = 6  # 12 hex characters: unique lookup key, safe to show and log
_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    prefix: str
    #: The whole credential, shown to its owner once and never stored.
    plaintext: str
    digest: str


def issue(kind: str) -> IssuedSecret:
    prefix = secrets.token_hex(_PREFIX_BYTES)
    plaintext = f"{kind}_{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return IssuedSecret(prefix=prefix, plaintext=plaintext, digest=digest(plaintext))


@dataclass(frozen=True, slots=True)
class IssuedClient:
    """An OAuth client's public ``client_id`` and its secret, shown once."""

    client_id: str
    secret: str
    digest: str


def issue_client() -> IssuedClient:
    secret = new_client_secret()
    # 12 hex characters, like credential prefixes: public, loggable, and not mistaken for an internal id.
    return IssuedClient(client_id=f"scimtrail-{secrets.token_hex(_PREFIX_BYTES)}", secret=secret, digest=digest(secret))


def new_client_secret() -> str:
    return secrets.token_urlsafe(_SECRET_BYTES)


def family_of(presented: str) -> str:
    """The ``<kind>`` a credential starts with (``scim``, ``sat``, ``sk``), or "" when it has none."""
    head, sep, _ = presented.partition("_")
    return head if sep else ""


def split(presented: str, kind: str) -> str | None:
    """The public prefix of a credential of ``kind``, or None if it is not shaped like one."""
    head, sep, rest = presented.partition("_")
    if head != kind or not sep:
        return None
    prefix, sep, secret = rest.partition("_")
    if not sep or len(prefix) != 2 * _PREFIX_BYTES or not secret:
        return None
    return prefix


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def matches(presented: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(presented), stored_digest)
