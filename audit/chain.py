"""The hash chain: canonical JSON and the link from one sealed event to the next (DESIGN §5)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["GENESIS_HASH", "ChainHead", "canonical_json", "link_hash", "with_hash"]

#: ``prev_hash`` of an organisation's first event.
GENESIS_HASH = "0" * 64


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8: the same bytes for the same event, always."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def link_hash(body: bytes, prev_hash: str) -> str:
    """``SHA-256(canonical_json(event without hash) ‖ prev_hash)``, lower-case hex."""
    return hashlib.sha256(body + prev_hash.encode("ascii")).hexdigest()


def with_hash(body: str, hash_: str) -> str:
    """The full canonical event as JSON text: the sealed body with its ``hash`` added.

    Splices text instead of parsing and re-serialising, which keeps exports fast; the body is
    always a JSON object we wrote, so its last character is the closing brace.
    """
    return f'{body[:-1]},"hash":"{hash_}"}}'


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where an organisation's chain stands: its last event, and the anchor a purge left."""

    organization: str
    last_sequence: int
    head_hash: str
    anchor_sequence: int
    anchor_hash: str
