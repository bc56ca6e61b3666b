"""The ``/api/v1`` convention, for audit's own HTTP APIs and for the host's beside them.

- one error: :class:`ApiError` (status, machine ``code``, ``message``, optional ``details``),
  rendered by :func:`exception_handlers` as ``{"error", "message", "details"?}``; foreign errors
  are translated in one table (:data:`TRANSLATIONS`, plus the host's ``extra``);
- operations as data: an :class:`Operation` declares its query parameters, body schema and
  statuses, a :class:`Section` groups those that authenticate alike, and :func:`api_app` turns
  sections into routes, checks and one OpenAPI document. Undeclared parameters and fields are
  refused with 400 before a handler runs;
- one body reader (:func:`read_json_object`: 400/413/415) and one request-context builder
  (:func:`request_context`).
"""

from ._app import api_app
from ._body import DEFAULT_MAX_BODY_BYTES, read_json_object
from ._context import Networks, client_ip, from_trusted_proxy, request_context, request_id_of, sane_request_id
from ._errors import ApiError, code_for
from ._openapi import ApiInfo, openapi_document
from ._operations import Call, Handler, Operation, Param, Section, anyone, routes
from ._render import ERROR_SCHEMA, JsonResponse, error_response, exception_handlers
from ._translate import TRANSLATIONS, Translations, translate

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ERROR_SCHEMA",
    "TRANSLATIONS",
    "ApiError",
    "ApiInfo",
    "Call",
    "Handler",
    "JsonResponse",
    "Networks",
    "Operation",
    "Param",
    "Section",
    "Translations",
    "anyone",
    "api_app",
    "client_ip",
    "code_for",
    "error_response",
    "exception_handlers",
    "from_trusted_proxy",
    "openapi_document",
    "read_json_object",
    "request_context",
    "request_id_of",
    "routes",
    "sane_request_id",
    "translate",
]
