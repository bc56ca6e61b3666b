"""The native format: the canonical event itself (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["encode_native"]


def encode_native(event: Mapping[str, Any]) -> dict[str, Any]:
    return dict(event)
