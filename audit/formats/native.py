"""The native format: the canonical event itself (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["encode_native"]


def encode_native(event: Mapping[str, Any]) -> Any:
    """The event as it is; a sealed event that carries its canonical JSON passes that through."""
    raw = getattr(event, "raw", None)
    if isinstance(raw, bytes):
        return orjson.Fragment(raw)
    return dict(event)
