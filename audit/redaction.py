"""The privacy pipeline: small event → event functions that every event passes through."""

from __future__ import annotations

from typing import Any

from .events import EventDraft, category_of, format_timestamp, new_event_id

__all__ = ["to_canonical"]

EVENT_VERSION = 1


def to_canonical(draft: EventDraft) -> dict[str, Any]:
    """The canonical event body (DESIGN §5), before sequence and hash are assigned."""
    return {
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
