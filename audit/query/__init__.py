"""Reading the sealed log: filtered pages, exports, and the HTTP API over both."""

from .app import audit_section, create_audit_app
from .export import CSV_COLUMNS, FORMATS, count_events, export_events, iter_batches
from .filters import EventFilter, Page, QueryError, search_page

__all__ = [
    "audit_section",
    "CSV_COLUMNS",
    "FORMATS",
    "EventFilter",
    "Page",
    "QueryError",
    "count_events",
    "create_audit_app",
    "export_events",
    "iter_batches",
    "search_page",
]
