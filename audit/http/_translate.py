"""Foreign errors become :class:`ApiError` here, in one table, and nowhere else.

Starlette's own refusals (no route, wrong method) and audit's domain errors are known here; a host
adds its own (e.g. its service layer's errors) through ``extra``. Anything not in either table is
a bug and answers 500 without details.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.exceptions import HTTPException

from ..errors import QueryError, RetentionError, StreamError
from ._errors import ApiError, code_for

__all__ = ["TRANSLATIONS", "Translations", "translate"]

Translate = Callable[[Exception], ApiError]
#: Exception type → how it reads as an API error; the most specific type in the table wins.
Translations = Mapping[type[Exception], Translate]


def _http(exc: Exception) -> ApiError:
    assert isinstance(exc, HTTPException)
    # Starlette's details ("Not Found") say less than the status already does.
    messages = {404: "There is no API endpoint at this path.", 405: "This method is not allowed on this path."}
    message = messages.get(exc.status_code, str(exc.detail))
    return ApiError(exc.status_code, code_for(exc.status_code), message, headers=exc.headers)


def _query(exc: Exception) -> ApiError:
    assert isinstance(exc, QueryError)
    return ApiError(400, exc.code, exc.message)


def _retention(exc: Exception) -> ApiError:
    return ApiError(400, "invalid_retention", str(exc))


def _stream(exc: Exception) -> ApiError:
    assert isinstance(exc, StreamError)
    return ApiError(exc.status, exc.code, exc.message)


TRANSLATIONS: Translations = {
    HTTPException: _http,
    QueryError: _query,
    RetentionError: _retention,
    StreamError: _stream,
}

_INTERNAL = ApiError(500, "internal_error", "The server could not complete the request.")


def translate(exc: Exception, extra: Translations | None = None) -> ApiError:
    """``exc`` as the API error it means; unknown exceptions are a 500 that reveals nothing."""
    if isinstance(exc, ApiError):
        return exc
    table = {**TRANSLATIONS, **(extra or {})}
    for kind in type(exc).__mro__:
        if kind in table:
            return table[kind](exc)
    return _INTERNAL
