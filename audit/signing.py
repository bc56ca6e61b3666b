"""The Ed25519 key that signs checkpoints: derived from the configured secret, or generated once.

With ``secret_key`` configured the key is derived from it (HKDF-SHA256) and never stored, so a
database alone cannot forge checkpoints. Without one, a key is generated on first use and kept
in ``audit_signing_keys``: checkpoints still catch accidental damage and truncation, but not an
attacker who can write the database — configure a secret in production.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import insert, select

from ._unique import translate_unique
from .events import format_timestamp
from .host import Transactions
from .tables import SIGNING_KEYS

__all__ = [
    "CheckpointKey",
    "checkpoint_public_key",
    "derive_key",
    "load_signing_key",
    "load_public_keys",
    "verify_signature",
]

_keys = SIGNING_KEYS
_HKDF_INFO = b"scimtrail audit checkpoint signing key v1"


def _key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CheckpointKey:
    """A signing key and its short id (the first 16 hex digits of SHA-256 of the public key)."""

    key_id: str
    private: Ed25519PrivateKey

    @classmethod
    def from_private(cls, private: Ed25519PrivateKey) -> CheckpointKey:
        return cls(_key_id(private.public_key()), private)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def public_key_pem(self) -> str:
        return self.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self.private.sign(payload)).decode("ascii")


def derive_key(secret: str) -> CheckpointKey:
    """The checkpoint key for a configured secret: the same secret always gives the same key."""
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    return CheckpointKey.from_private(Ed25519PrivateKey.from_private_bytes(seed))


async def load_signing_key(transactions: Transactions, secret_key: str = "") -> CheckpointKey:
    """The key to sign with: derived from ``secret_key``, else the stored one, generated if absent."""
    if secret_key:
        return derive_key(secret_key)
    async with transactions.read() as conn:
        row = (await conn.execute(select(_keys.c.private_key).order_by(_keys.c.created_at).limit(1))).first()
    if row is not None:
        return CheckpointKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(row.private_key)))
    key = CheckpointKey.from_private(Ed25519PrivateKey.generate())
    with translate_unique():  # another process stored one first: load it below
        async with transactions.write() as conn:
            # Re-check inside the write transaction: another process may have just generated one.
            if (await conn.execute(select(_keys.c.key_id).limit(1))).first() is None:
                await conn.execute(
                    insert(_keys).values(
                        key_id=key.key_id,
                        private_key=key.private.private_bytes_raw().hex(),
                        public_key=key.public_key.public_bytes_raw().hex(),
                        created_at=format_timestamp(datetime.now(UTC)),
                    )
                )
                return key
    return await load_signing_key(transactions)


async def load_public_keys(transactions: Transactions, secret_key: str = "") -> dict[str, Ed25519PublicKey]:
    """Every key a checkpoint of this database may carry, by key id."""
    keys: dict[str, Ed25519PublicKey] = {}
    async with transactions.read() as conn:
        for row in await conn.execute(select(_keys.c.key_id, _keys.c.public_key)):
            keys[row.key_id] = Ed25519PublicKey.from_public_bytes(bytes.fromhex(row.public_key))
    if secret_key:
        derived = derive_key(secret_key)
        keys[derived.key_id] = derived.public_key
    return keys


def verify_signature(public_key: Ed25519PublicKey, payload: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), payload)
    except (InvalidSignature, ValueError):
        return False
    return True


async def checkpoint_public_key(transactions: Transactions, secret_key: str = "") -> tuple[str, str]:
    """``(key_id, PEM)`` of the key checkpoints are signed with, for auditors to verify offline."""
    key = await load_signing_key(transactions, secret_key)
    return key.key_id, key.public_key_pem()
