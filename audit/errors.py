"""The refusals audit's own services raise, in one leaf module.

They say what was wrong in domain terms and know nothing of HTTP beyond what the streams service
always carried; :mod:`audit.http` translates each into the API's error at the edge. Living apart
from the modules that raise them lets the HTTP kit import them without importing those packages.
"""

from __future__ import annotations

__all__ = ["QueryError", "RetentionError", "StreamError"]


class QueryError(ValueError):
    """A query the caller must fix; ``code`` is the machine-readable error."""

    def __init__(self, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RetentionError(ValueError):
    """A retention window outside what the service allows."""


class StreamError(Exception):
    """A request the streams service refuses; ``status`` and ``code`` are what the API answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
