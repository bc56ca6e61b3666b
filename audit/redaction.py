"""The privacy pipeline: small event → event functions that every event passes through.

Only customer-facing identifiers leave the service (DESIGN §5): emails, group display names,
slugs and labels. Internal ids (UUIDs, ULIDs, long hex strings, IdP object ids), externalIds,
attribute values and anything resembling a secret are removed here, once, before an event is
written, so no later stage (sealing, export, delivery) has to be trusted with them.

Each step takes a canonical event dict and returns a new one; :data:`PIPELINE` is the order they
run in. A step never raises on odd input: it drops what it cannot vouch for.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .events import EventDraft, category_of, format_timestamp, new_event_id

__all__ = [
    "EVENT_VERSION",
    "PIPELINE",
    "REDACTED",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_KEY_LENGTH",
    "MAX_METADATA_VALUE_LENGTH",
    "to_canonical",
    "redact",
    "keep_canonical_fields",
    "redact_names",
    "strip_sensitive_metadata",
    "changed_names_only",
    "limit_metadata",
    "looks_internal",
    "looks_secret",
]

EVENT_VERSION = 1
#: Stands in for an actor or target name that was not a customer-facing identifier.
REDACTED = "[redacted]"
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
_MAX_NAME_LENGTH = 320  # the longest email address; also the column width
_MAX_CONTEXT_LENGTH = 500

Event = dict[str, Any]
Step = Callable[[Event], Event]

_B = r"(?<![0-9A-Za-z])"  # no identifier character before …
_E = r"(?![0-9A-Za-z])"  # … or after
#: What internal identifiers look like, each whole (between _B and _E).
_INTERNAL_ID_SHAPES = (
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",  # UUID
    r"[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}",  # ULID (Crockford base32)
    r"(?=[a-fA-F]*[0-9])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{16,}",  # hex object ids, digests
    r"00[a-z0-9][0-9A-Za-z]{17}",  # Okta object ids (00u…, 00g…)
)
#: What credentials look like: each starts at a word boundary, except a PEM block.
_SECRET_SHAPES = (
    r"bearer\s+\S+",
    r"(?:scim|sat|sk)_[0-9A-Za-z]+_[0-9A-Za-z_-]{8,}",  # scim_…, sat_… (OAuth), sk_… (API keys)
    r"whsec_[0-9A-Za-z+/=]{16,}",
    r"eyJ[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+",  # a JWT (header.payload…)
)
_PEM_PRIVATE_KEY = r"-----BEGIN [A-Z ]*PRIVATE KEY-----"
# Each pattern tests its boundary once per position, then the shapes: the regex engine tries
# every alternative at every position, so a boundary written into each alternative was tested
# four times over (these checks ran 2-3x slower, on every name of every event).
_ANY_ID = f"(?:{'|'.join(_INTERNAL_ID_SHAPES)}){_E}"
_ANY_WORD_SECRET = rf"\b(?:{'|'.join(_SECRET_SHAPES)})"
_INTERNAL_ID = re.compile(_B + _ANY_ID)
_SECRET = re.compile(f"{_ANY_WORD_SECRET}|{_PEM_PRIVATE_KEY}", re.IGNORECASE)
#: Either of the above, in one pass: the check every name and metadata string goes through.
#: A word boundary before a word character implies _B, so both kinds share that one test.
_SUSPECT = re.compile(f"{_B}(?:{_ANY_ID}|{_ANY_WORD_SECRET})|{_PEM_PRIVATE_KEY}", re.IGNORECASE)
#: Metadata keys that name a secret or carry attribute values rather than names.
_SENSITIVE_KEY = re.compile(
    r"(?i)pass(word|wd|phrase)?|secret|token|api[_-]?key|authori[sz]ation|credential|private|signature|cookie"
    r"|^external[_-]?ids?$|^externalIds?$|^(old|new|before|after|previous|current)(_?values?)?$|^values?$"
    r"|^attributes$|^(patch|operations|diff|body|payload|raw|request|response)$"
)
#: Keys that hold an internal identifier (``id``, ``user_id``, ``groupIds``).
_ID_KEY = re.compile(r"^(id|ids|uuid|pk|.*_ids?|.*[a-z]Ids?)$")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][\w.:$-]{0,199}$")


def looks_internal(text: str) -> bool:
    """Whether ``text`` contains something that looks like an internal identifier."""
    return _INTERNAL_ID.search(text) is not None


def looks_secret(text: str) -> bool:
    """Whether ``text`` contains something that looks like a credential."""
    return _SECRET.search(text) is not None


def _safe_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or _SUSPECT.search(value):
        return REDACTED
    return value[:_MAX_NAME_LENGTH]


#: What a field that should hold a mapping but does not is read as.
_NO_FIELDS: Mapping[Any, Any] = MappingProxyType({})


def _mapping(value: Any) -> Mapping[Any, Any]:
    # A plain dict skips the ABC machinery of isinstance(…, Mapping): four checks per event.
    return value if type(value) is dict or isinstance(value, Mapping) else _NO_FIELDS


def _party(value: Any) -> dict[str, str]:
    fields = _mapping(value)
    kind = fields.get("type")
    return {"type": kind if isinstance(kind, str) and kind else "unknown", "name": fields.get("name")}  # type: ignore[dict-item]


# Actor names (a credential's slug) and user agents repeat from one event to the next; their
# verdicts are remembered rather than matched against the patterns again for every event. Only
# short values are: a client chooses its user agent, and must not be able to fill the cache
# with long ones.
_REMEMBERED_LENGTH = 256


@functools.lru_cache(maxsize=1024)
def _remembered_name(value: str) -> str:
    return _safe_name(value)


@functools.lru_cache(maxsize=1024)
def _remembered_context_value(value: str) -> str | None:
    return _context_value(value)


def _safe_repeated_name(value: Any) -> str:
    if isinstance(value, str) and len(value) <= _REMEMBERED_LENGTH:
        return _remembered_name(value)
    return _safe_name(value)


def _repeated_context_value(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= _REMEMBERED_LENGTH:
        return _remembered_context_value(value)
    return _context_value(value)


def _context_value(value: Any, *, client_chosen: bool = True) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if client_chosen and _SECRET.search(value):
        return REDACTED
    return value[:_MAX_CONTEXT_LENGTH]


def keep_canonical_fields(event: Event) -> Event:
    """Only the fields of the canonical event, each in its canonical shape."""
    context = _mapping(event.get("context"))
    targets = event.get("targets")
    targets = targets if isinstance(targets, list | tuple) else ()
    metadata = _mapping(event.get("metadata"))
    return {
        "id": event["id"],
        "version": event["version"],
        "organization": event["organization"],
        "action": event["action"],
        "category": event["category"],
        "occurred_at": event["occurred_at"],
        "actor": _party(event.get("actor")),
        "targets": [_party(t) for t in targets],
        "context": {
            # The peer address comes from the socket (or a trusted proxy), not from the client's text.
            "ip": _context_value(context.get("ip"), client_chosen=False),
            "user_agent": _repeated_context_value(context.get("user_agent")),
            "request_id": _context_value(context.get("request_id")),
        },
        "metadata": {str(k): v for k, v in metadata.items()},
    }


def redact_names(event: Event) -> Event:
    """Actor and target names must be customer-facing: internal ids and secrets become ``[redacted]``."""
    actor = {**event["actor"], "name": _safe_repeated_name(event["actor"]["name"])}
    targets = [{**t, "name": _safe_name(t["name"])} for t in event["targets"]]
    return {**event, "actor": actor, "targets": targets}


def changed_names_only(event: Event) -> Event:
    """``metadata.changed`` lists attribute *names*; values, or entries that are not names, go."""
    changed = event["metadata"].get("changed")
    if changed is None:
        return event
    names: list[str] = []
    items = changed.items() if isinstance(changed, Mapping) else changed if isinstance(changed, list | tuple) else ()
    for item in items:
        # {"path": ..., "value": ...} or ("name", value) pairs keep only the name.
        if isinstance(item, Mapping):
            item = item.get("path") or item.get("name") or item.get("attribute")
        elif isinstance(item, tuple):
            item = item[0]
        if isinstance(item, str) and _ATTRIBUTE_NAME.match(item) and not looks_internal(item) and item not in names:
            names.append(item)
    return {**event, "metadata": {**event["metadata"], "changed": names}}


def _scalar_allowed(value: Any) -> bool:
    if isinstance(value, str):
        return _SUSPECT.search(value) is None
    return value is None or isinstance(value, bool | int | float)


def strip_sensitive_metadata(event: Event) -> Event:
    """Drop secrets, attribute values, externalIds and internal ids from metadata.

    A value must be a scalar or a list of scalars; nested objects are where attribute values
    hide, so they are dropped whole rather than inspected.
    """
    if not event["metadata"]:
        return event  # most events carry none: nothing to copy
    kept: dict[str, Any] = {}
    for key, value in event["metadata"].items():
        if _SENSITIVE_KEY.search(key) or _ID_KEY.match(key) or looks_internal(key):
            continue
        if isinstance(value, list | tuple):
            items = [v for v in value if _scalar_allowed(v) and not isinstance(v, list | tuple | Mapping)]
            if items or not value:
                kept[key] = items
        elif _scalar_allowed(value):
            kept[key] = value
    return {**event, "metadata": kept}


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_METADATA_VALUE_LENGTH]
    if isinstance(value, list):
        items: list[Any] = []
        size = 2  # the brackets
        for item in value:
            item = _bounded(item)
            size += len(str(item)) + 3  # quotes and separator
            if size > MAX_METADATA_VALUE_LENGTH:
                break
            items.append(item)
        return items
    return value


def limit_metadata(event: Event) -> Event:
    """At most 50 keys of at most 40 characters; values truncated to 500 characters."""
    if not event["metadata"]:
        return event
    kept: dict[str, Any] = {}
    for key, value in event["metadata"].items():
        if len(kept) == MAX_METADATA_KEYS:
            break
        if 0 < len(key) <= MAX_METADATA_KEY_LENGTH:
            kept[key] = _bounded(value)
    return {**event, "metadata": kept}


#: The steps, in order. ``changed_names_only`` runs before the value strip so that a
#: ``changed`` given as ``{name: value}`` keeps its names.
PIPELINE: tuple[Step, ...] = (
    keep_canonical_fields,
    redact_names,
    changed_names_only,
    strip_sensitive_metadata,
    limit_metadata,
)


def redact(event: Event) -> Event:
    for step in PIPELINE:
        event = step(event)
    return event


def to_canonical(draft: EventDraft) -> Event:
    """The canonical event body (DESIGN §5) of a draft, redacted; sequence and hashes come at sealing."""
    return redact(
        {
            "id": new_event_id(),
            "version": EVENT_VERSION,
            "organization": draft.organization,
            "action": draft.action,
            "category": category_of(draft.action),
            "occurred_at": format_timestamp(draft.occurred_at),
            "actor": {"type": draft.actor.type, "name": draft.actor.name},
            "targets": [{"type": t.type, "name": t.name} for t in draft.targets],
            "context": {
                "ip": draft.context.ip,
                "user_agent": draft.context.user_agent,
                "request_id": draft.context.request_id,
            },
            "metadata": dict(draft.metadata),
        }
    )
