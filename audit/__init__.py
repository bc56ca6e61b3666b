"""The audit domain: events, the transactional outbox, the sealed log and its relay.

Usable without the SCIM service; the SCIM service uses only the names exported here.
"""

from .events import CATALOGUE, Actor, EventDraft, RequestContext, Target, category_of
from .outbox import record, record_many
from .tables import install_triggers

__all__ = [
    "CATALOGUE",
    "Actor",
    "EventDraft",
    "RequestContext",
    "Target",
    "category_of",
    "install_triggers",
    "record",
    "record_many",
]
