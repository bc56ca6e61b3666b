"""An API assembled from sections: their routes, its OpenAPI document, one error renderer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import BaseRoute

from ._body import DEFAULT_MAX_BODY_BYTES
from ._openapi import ApiInfo, openapi_document
from ._operations import Call, Operation, Section, anyone, routes
from ._render import JsonResponse, exception_handlers
from ._translate import Translations

__all__ = ["api_app"]


def _document_section(sections: Sequence[Section[Any]], info: ApiInfo) -> Section[None]:
    """``GET /openapi.json``, itself an operation (public, and as strict about parameters as the rest)."""
    document: dict[str, Any] = {}

    async def serve(call: Call[None]) -> Response:
        return JsonResponse(document)

    op: Operation[None] = Operation(
        "GET",
        "/openapi.json",
        "getOpenApiDocument",
        "This document.",
        serve,
        "meta",
        content={"application/json": {"type": "object"}},
    )
    section = Section("", (op,), anyone, public=True)
    document.update(openapi_document([*sections, section], info))
    return section


def api_app(
    sections: Sequence[Section[Any]],
    info: ApiInfo,
    *,
    errors: Translations | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """The sections as one ASGI app with ``/openapi.json``; every error renders one way.

    ``errors`` translates the host's own exceptions (beside audit's, which are known).
    """
    everything = [*sections, _document_section(sections, info)]
    table: list[BaseRoute] = [
        route for section in everything for route in routes(section, max_body_bytes=max_body_bytes)
    ]
    return Starlette(routes=table, exception_handlers=exception_handlers(errors))
