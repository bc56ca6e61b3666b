"""The text full-text search matches, derived from an event when it is sealed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["search_words"]

_NOT_A_WORD = re.compile(r"[^\w]+")
#: For ASCII text: every byte that is not a word character (``\w``) becomes a space, and
#: upper-case letters lower-case ones; a C table lookup per byte, four times faster than the
#: regex, and sealing runs it for every event.
_ASCII_WORDS = bytes(
    32 if c >= 128 or not (chr(c).isalnum() or chr(c) == "_") else c + 32 if chr(c).isupper() else c for c in range(256)
)


def search_words(event: Mapping[str, Any]) -> str:
    """The text full-text search matches: actor, action, category, targets, metadata.

    Punctuation becomes spaces here, and in queries, so ``jane@acme.example`` is the phrase
    ``jane acme example`` on both SQLite FTS5 and PostgreSQL's ``simple`` configuration.
    """
    parts: list[str] = [event["actor"]["name"], event["action"], event["category"]]
    parts.extend(f"{t['type']} {t['name']}" for t in event["targets"])
    for key, value in event["metadata"].items():
        parts.append(key)
        parts.extend(str(v) for v in value) if isinstance(value, list) else parts.append(str(value))
    text = " ".join(parts)
    if text.isascii():
        return b" ".join(text.encode().translate(_ASCII_WORDS).split()).decode()
    return _NOT_A_WORD.sub(" ", text).strip().lower()
