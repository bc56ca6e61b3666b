"""Sealing stream secrets at rest: AES-256-GCM under a key derived from the server's secret."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SecretBox", "SecretBoxError"]

_VERSION = "v1"
_INFO = b"scimtrail/log-stream-secrets/v1"


class SecretBoxError(Exception):
    """The sealed secrets cannot be opened: wrong server key, or the row was tampered with."""


class SecretBox:
    """Seals a stream's secrets as ``v1.<base64(nonce ‖ ciphertext)>``.

    The stream id is the associated data, so a sealed value copied onto another stream's row
    does not open there.
    """

    def __init__(self, secret_key: str | bytes) -> None:
        material = secret_key.encode() if isinstance(secret_key, str) else secret_key
        if not material:
            raise ValueError("a non-empty secret key (SCIMTRAIL_SECRET_KEY) is needed to store stream secrets")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
        self._aead = AESGCM(key)

    def seal(self, stream_id: str, secrets: Mapping[str, str]) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, orjson.dumps(dict(secrets)), stream_id.encode())
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, stream_id: str, sealed: str) -> dict[str, str]:
        version, _, payload = sealed.partition(".")
        if version != _VERSION:
            raise SecretBoxError(f"unknown sealed-secret version {version!r}")
        try:
            raw = base64.urlsafe_b64decode(payload)
            plain = self._aead.decrypt(raw[:12], raw[12:], stream_id.encode())
        except (InvalidTag, ValueError) as exc:
            raise SecretBoxError("stream secrets do not open with this server key") from exc
        opened: dict[str, str] = orjson.loads(plain)
        return opened
