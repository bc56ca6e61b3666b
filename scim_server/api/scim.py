"""The /scim/v2 endpoints: parse → service → render. No business rules live here."""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scim_server.protocol.discovery import (
    all_schemas,
    resource_type_document,
    schema_document,
    service_provider_config,
)
from scim_server.protocol.errors import InvalidSyntax, InvalidValue, NotFound, ScimError
from scim_server.protocol.listing import LIST_RESPONSE_SCHEMA, parse_list_query
from scim_server.protocol.projection import Projection, parse_projection
from scim_server.protocol.resource import etag, parse_etags
from scim_server.protocol.schema import ResourceType, resource_types
from scim_server.services import Caller, Provisioning, Result, run_bulk
from scim_server.settings import Settings

from .context import caller_of, preconditions_of, public_base_url
from .responses import ScimResponse, read_json

__all__ = ["scim_routes"]


def _projection(request: Request, rtype: ResourceType) -> Projection:
    q = request.query_params
    return parse_projection(rtype, q.get("attributes"), q.get("excludedAttributes"))


def _resource_response(result: Result, status: int = 200) -> Response:
    headers = {"ETag": etag(result.version)}
    if result.resource is None:  # the service answers without a body (a group's PATCH)
        return Response(status_code=204, headers=headers)
    if status == 201:
        headers["Location"] = result.location
    return ScimResponse(result.resource, status_code=status, headers=headers)


class _Endpoints:
    def __init__(self, service: Provisioning, settings: Settings) -> None:
        self.service = service
        self.settings = settings

    def _caller(self, request: Request) -> Caller:
        return caller_of(request, self.settings.trusted_proxies)

    async def collection(self, rtype: ResourceType, request: Request) -> Response:
        caller = self._caller(request)
        if request.method == "POST":
            body = await read_json(request)
            result = await self.service.create(caller, rtype, body, _projection(request, rtype))
            return _resource_response(result, 201)
        query = parse_list_query(
            rtype,
            dict(request.query_params),
            default_count=self.settings.default_page_size,
            max_count=self.settings.max_page_size,
        )
        return ScimResponse(await self.service.list_page(caller, rtype, query))

    async def search(self, rtype: ResourceType, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise InvalidSyntax("A SearchRequest must be a JSON object.")
        params = {k: v for k, v in body.items() if k.lower() != "schemas"}
        query = parse_list_query(
            rtype, params, default_count=self.settings.default_page_size, max_count=self.settings.max_page_size
        )
        return ScimResponse(await self.service.list_page(self._caller(request), rtype, query))

    async def resource(self, rtype: ResourceType, request: Request) -> Response:
        caller = self._caller(request)
        id = request.path_params["id"]
        method = request.method
        if method == "GET":
            none_match = request.headers.get("if-none-match")
            if none_match is not None:
                tags = parse_etags(none_match)
                version = await self.service.version_of(caller, rtype, id)
                if tags is None or str(version) in tags:
                    return Response(status_code=304, headers={"ETag": etag(version)})
            return _resource_response(await self.service.get(caller, rtype, id, _projection(request, rtype)))
        if method == "DELETE":
            await self.service.delete(caller, rtype, id, preconditions_of(request))
            return Response(status_code=204)
        body = await read_json(request)
        if method == "PUT":
            result = await self.service.replace(
                caller, rtype, id, body, preconditions_of(request), _projection(request, rtype)
            )
        else:
            result = await self.service.patch(
                caller, rtype, id, body, preconditions_of(request), _projection(request, rtype)
            )
        return _resource_response(result)

    async def root_search(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise InvalidSyntax("A SearchRequest must be a JSON object.")
        params = {k: v for k, v in body.items() if k.lower() != "schemas"}
        if any(k.lower() == "cursor" for k in params):
            raise InvalidValue("Cursor paging is not available for searches across resource types.")
        queries, first_error = [], None
        for rtype in resource_types():
            try:
                queries.append(
                    (
                        rtype,
                        parse_list_query(
                            rtype,
                            params,
                            default_count=self.settings.default_page_size,
                            max_count=self.settings.max_page_size,
                        ),
                    )
                )
            except ScimError as exc:
                # An attribute that only one resource type has: the others simply cannot match.
                first_error = first_error or exc
        if not queries:
            assert first_error is not None
            raise first_error
        return ScimResponse(await self.service.search_all(self._caller(request), queries))

    async def bulk(self, request: Request) -> Response:
        raw = await request.body()
        body = await read_json(request)
        s = self.settings
        result = await run_bulk(
            self.service,
            self._caller(request),
            body,
            max_operations=s.max_bulk_operations,
            max_payload=s.max_bulk_payload_bytes,
            payload_size=len(raw),
        )
        return ScimResponse(result)

    # ---- discovery ------------------------------------------------------------------------------

    def _base(self, request: Request) -> str:
        return public_base_url(request, self.settings.trusted_proxies)

    async def service_provider_config(self, request: Request) -> Response:
        s = self.settings
        return ScimResponse(
            service_provider_config(
                self._base(request),
                max_results=s.max_page_size,
                default_page_size=s.default_page_size,
                max_operations=s.max_bulk_operations,
                max_payload=s.max_bulk_payload_bytes,
            )
        )

    async def resource_types(self, request: Request) -> Response:
        base = self._base(request)
        docs = [resource_type_document(r, base) for r in resource_types()]
        name = request.path_params.get("name")
        if name is not None:
            for doc in docs:
                if doc["id"] == name:
                    return ScimResponse(doc)
            raise NotFound(f"Resource type {name} not found.")
        return ScimResponse(_list(docs))

    async def schemas(self, request: Request) -> Response:
        base = self._base(request)
        docs = [schema_document(s, base) for s in all_schemas()]
        id = request.path_params.get("id")
        if id is not None:
            for doc in docs:
                if doc["id"].lower() == id.lower():
                    return ScimResponse(doc)
            raise NotFound(f"Schema {id} not found.")
        return ScimResponse(_list(docs))


def _list(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": len(docs),
        "itemsPerPage": len(docs),
        "startIndex": 1,
        "Resources": docs,
    }


def scim_routes(service: Provisioning, settings: Settings) -> list[Route]:
    e = _Endpoints(service, settings)
    routes = [
        Route("/ServiceProviderConfig", e.service_provider_config, methods=["GET"]),
        Route("/ResourceTypes", e.resource_types, methods=["GET"]),
        Route("/ResourceTypes/{name}", e.resource_types, methods=["GET"]),
        Route("/Schemas", e.schemas, methods=["GET"]),
        Route("/Schemas/{id:path}", e.schemas, methods=["GET"]),
        Route("/Bulk", e.bulk, methods=["POST"]),
        Route("/.search", e.root_search, methods=["POST"]),
    ]
    for rtype in resource_types():
        path = rtype.endpoint
        routes += [
            Route(path, partial(e.collection, rtype), methods=["GET", "POST"]),
            Route(f"{path}/.search", partial(e.search, rtype), methods=["POST"]),
            Route(f"{path}/{{id}}", partial(e.resource, rtype), methods=["GET", "PUT", "PATCH", "DELETE"]),
        ]
    return routes
