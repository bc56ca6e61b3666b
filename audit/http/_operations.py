"""API operations as data: each one becomes a route, a checked request and an OpenAPI entry.

An :class:`Operation` declares everything about a request it accepts (query parameters, body
schema, statuses); a :class:`Section` groups operations that authenticate the same way under one
prefix. :func:`routes` turns a section into Starlette routes that refuse whatever was not
declared before the handler runs, so no endpoint can silently ignore a parameter or a field.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._body import DEFAULT_MAX_BODY_BYTES, read_json_object
from ._errors import ApiError

__all__ = ["Call", "Handler", "Operation", "Param", "Section", "anyone", "routes"]

T = TypeVar("T")
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter an operation accepts."""

    name: str
    description: str
    schema: Mapping[str, Any] = dataclasses.field(default_factory=lambda: {"type": "string"})
    #: Given several times (``?action=a&action=b``), documented as an exploded array.
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One checked request, as a handler sees it."""

    request: Request
    #: What the section's ``authenticate`` made of the credential.
    auth: T
    #: The JSON body's fields (only declared ones; ``{}`` without a body).
    body: dict[str, Any]

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def queries(self) -> dict[str, list[str]]:
        """Every query parameter (all declared, by then) with its values in order."""
        params = self.request.query_params
        return {key: params.getlist(key) for key in params}


Handler = Callable[[Call[T]], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    method: str
    #: Relative to the section's prefix; ``""`` is the prefix itself (a collection).
    path: str
    #: The OpenAPI ``operationId``.
    name: str
    summary: str
    handler: Handler[T]
    tag: str
    status: int = 200
    #: Name of the request body's schema in the section's ``schemas`` (its properties are the accepted fields).
    request: str | None = None
    #: Name of the JSON answer's schema in the section's ``schemas``; ``None`` with ``content`` or no body.
    response: str | None = None
    #: Media type → schema, for answers that are not one JSON document (exports).
    content: Mapping[str, Any] | None = None
    query: tuple[Param, ...] = ()
    #: Statuses this operation answers besides success and what every operation may answer, with their meaning.
    errors: Mapping[int, str] = dataclasses.field(default_factory=dict)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)


async def anyone(request: Request) -> None:
    """``authenticate`` for public operations: no credential needed."""
    return None


@dataclass(frozen=True, slots=True)
class Section(Generic[T]):
    """Operations under one prefix that authenticate alike.

    ``authenticate`` turns the request into what handlers get as :attr:`Call.auth`, or raises
    :class:`ApiError` (401, 403, 429); ``errors`` documents what it can answer, for every operation.
    """

    prefix: str
    operations: tuple[Operation[T], ...]
    authenticate: Callable[[Request], Awaitable[T]]
    errors: Mapping[int, str] = dataclasses.field(default_factory=dict)
    #: JSON Schemas the operations name, by name (they become ``components.schemas``).
    schemas: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    #: Whether operations need a credential (documented as the document's default security).
    public: bool = False

    def url(self, op: Operation[T]) -> str:
        return (self.prefix.rstrip("/") + op.path) or "/"

    def fields(self, op: Operation[T]) -> frozenset[str]:
        if op.request is None:
            return frozenset()
        return frozenset(self.schemas[op.request].get("properties", {}))


def _check_query(request: Request, op: Operation[Any]) -> None:
    declared = {p.name for p in op.query}
    unknown = sorted(set(request.query_params.keys()) - declared)
    if unknown:
        accepted = sorted(declared)
        hint = f"accepted: {', '.join(accepted)}" if accepted else "this operation takes none"
        raise ApiError(
            400,
            "unknown_parameter",
            f"Unknown query parameter(s): {', '.join(unknown)} ({hint}).",
            details={"unknown": unknown, "accepted": accepted},
        )


def _endpoint(section: Section[T], op: Operation[T], max_body_bytes: int) -> Callable[[Request], Awaitable[Response]]:
    fields = section.fields(op)

    async def endpoint(request: Request) -> Response:
        # Who asks comes first: an unauthenticated caller learns nothing about what is accepted.
        auth = await section.authenticate(request)
        _check_query(request, op)
        body = await read_json_object(request, fields, max_bytes=max_body_bytes)
        return await op.handler(Call(request, auth, body))

    endpoint.__name__ = op.name
    return endpoint


def routes(section: Section[Any], *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> list[Route]:
    """The section's operations as Starlette routes."""
    return [
        Route(section.url(op), _endpoint(section, op, max_body_bytes), methods=[op.method]) for op in section.operations
    ]
