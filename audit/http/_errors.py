"""The one error an ``/api/v1`` endpoint raises, whatever went wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ApiError", "code_for"]

#: The machine code each status gets when nothing more specific was said; clients branch on these.
_CODES: Mapping[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_value",
    429: "rate_limited",
    500: "internal_error",
}


def code_for(status: int) -> str:
    """The default machine code for ``status``."""
    return _CODES.get(status, "error")


class ApiError(Exception):
    """An answer other than success: HTTP ``status``, a stable machine ``code``, a ``message`` for
    people, and optional ``details`` (data a client can act on, e.g. the accepted parameters).

    Rendered as ``{"error": code, "message": …, "details"?: …}`` by :func:`audit.http.error_response`.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details) if details else None
        self.headers = dict(headers) if headers else {}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"
