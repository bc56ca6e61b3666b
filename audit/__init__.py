"""The audit domain: events, the transactional outbox, the sealed log and its relay.

Usable without the SCIM service; the SCIM service uses only the names exported here. A host
plugs in through one seam: it offers its transactions (:class:`AuditHost`), tells audit about
each write transaction (:class:`HostTransaction`, :func:`attach`), and applies audit's schema
from its migrations (:mod:`audit.schema`). What differs between SQLite and PostgreSQL is chosen
once per engine (:func:`backend_for`); :mod:`audit.testing.contract` checks a host.
"""

from ._unique import translate_unique
from .access import Authorize, Caller, Role
from .backends import Backend, backend_for
from .chain import ChainHead
from .events import CATALOGUE, Actor, EventDraft, RequestContext, Target, category_of
from .host import AuditHost, HostTransaction, Transactions, attach, detach
from .ids import new_ulid
from .log_reads import SealedEvent, chain_heads, read_sealed
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import EVENTS_SEALED, OUTBOX_FAILURES
from .metrics import exposition as metrics_exposition
from .metrics import refresh as refresh_metrics
from .metrics import relay_exposition as relay_metrics_exposition
from .outbox import after_commit, record, record_many, write_pending
from .query import FORMATS as EXPORT_FORMATS
from .query import EventFilter, QueryError, audit_section, count_events, create_audit_app, export_events
from .relay import LeaseLost, Relay, RelayContext, Stage, prune_outbox_forever
from .relay.delivery import DeliverySettings, DeliveryStage
from .relay.sinks import DestinationPolicy
from .retention import (
    DEFAULT_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    PurgeResult,
    RetentionError,
    RetentionPolicy,
    get_retention,
    purge_expired,
    set_retention,
)
from .schema import LOCK_LOG, LOG_SCHEMA, log_database
from .signals import Signal
from .signing import checkpoint_public_key
from .streams import (  # also registers the log-stream tables
    SecretBox,
    StreamError,
    StreamService,
    create_streams_app,
    streams_section,
)
from .streams.service import render as render_stream
from .verification import VerifyReport, verify

__all__ = [
    "AuditHost",
    "Backend",
    "HostTransaction",
    "LOCK_LOG",
    "LOG_SCHEMA",
    "after_commit",
    "attach",
    "backend_for",
    "detach",
    "log_database",
    "prune_outbox_forever",
    "CATALOGUE",
    "DEFAULT_RETENTION_DAYS",
    "EVENTS_SEALED",
    "MAX_RETENTION_DAYS",
    "MIN_RETENTION_DAYS",
    "OUTBOX_FAILURES",
    "Actor",
    "ChainHead",
    "DeliverySettings",
    "DeliveryStage",
    "DestinationPolicy",
    "SecretBox",
    "StreamError",
    "StreamService",
    "render_stream",
    "create_streams_app",
    "streams_section",
    "Authorize",
    "Caller",
    "Role",
    "METRICS_CONTENT_TYPE",
    "metrics_exposition",
    "relay_metrics_exposition",
    "refresh_metrics",
    "EventDraft",
    "EventFilter",
    "EXPORT_FORMATS",
    "QueryError",
    "count_events",
    "audit_section",
    "create_audit_app",
    "export_events",
    "LeaseLost",
    "PurgeResult",
    "Relay",
    "RelayContext",
    "RequestContext",
    "RetentionError",
    "RetentionPolicy",
    "SealedEvent",
    "Signal",
    "Stage",
    "Target",
    "Transactions",
    "VerifyReport",
    "category_of",
    "chain_heads",
    "checkpoint_public_key",
    "get_retention",
    "purge_expired",
    "read_sealed",
    "record",
    "new_ulid",
    "record_many",
    "write_pending",
    "set_retention",
    "translate_unique",
    "verify",
]
