"""Bulk operations (RFC 7644 §3.7): each operation its own transaction, ``bulkId`` references resolved."""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from typing import Any

from scim_server.protocol.errors import Conflict, InvalidSyntax, InvalidValue, PayloadTooLarge, ScimError
from scim_server.protocol.resource import etag, parse_etags
from scim_server.protocol.schema import ResourceType, resource_types

from .context import Caller
from .provisioning import Preconditions, Provisioning

__all__ = ["BULK_REQUEST_SCHEMA", "BULK_RESPONSE_SCHEMA", "run_bulk"]

BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
_REF = re.compile(r"^bulkId:(.+)$")
_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _refs(value: Any) -> set[str]:
    if isinstance(value, str):
        m = _REF.match(value)
        return {m.group(1)} if m else set()
    if isinstance(value, Mapping):
        return set().union(*(_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def _substitute(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        m = _REF.match(value)
        return ids[m.group(1)] if m and m.group(1) in ids else value
    if isinstance(value, Mapping):
        return {k: _substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    return value


def _route(path: Any) -> tuple[ResourceType, str | None]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidValue("Each operation needs a 'path' such as /Users or /Groups/{id}.")
    parts = path.strip("/").split("/")
    for rtype in resource_types():
        if parts[0] == rtype.endpoint.strip("/"):
            if len(parts) == 1:
                return rtype, None
            if len(parts) == 2 and parts[1]:
                return rtype, parts[1]
    raise InvalidValue(f"Unsupported bulk path {path!r}.")


def _error_entry(op: Mapping[str, Any], exc: ScimError) -> dict[str, Any]:
    entry: dict[str, Any] = {"method": op.get("method"), "status": str(exc.status), "response": exc.to_dict()}
    if op.get("bulkId") is not None:
        entry["bulkId"] = op["bulkId"]
    return entry


async def run_bulk(
    service: Provisioning, caller: Caller, body: Any, *, max_operations: int, max_payload: int, payload_size: int
) -> dict[str, Any]:
    if payload_size > max_payload:
        raise PayloadTooLarge(f"Bulk requests are limited to {max_payload} bytes.")
    if not isinstance(body, Mapping):
        raise InvalidSyntax("A BulkRequest must be a JSON object.")
    ops = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(ops, list) or not all(isinstance(o, Mapping) for o in ops):
        raise InvalidSyntax("A BulkRequest needs an 'Operations' array of objects.")
    if len(ops) > max_operations:
        raise PayloadTooLarge(f"Bulk requests are limited to {max_operations} operations.")
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        not isinstance(fail_on_errors, int) or isinstance(fail_on_errors, bool) or fail_on_errors < 1
    ):
        raise InvalidValue("'failOnErrors' must be a positive integer.")

    ids: dict[str, str] = {}
    results: list[dict[str, Any] | None] = [None] * len(ops)
    # Operations run in order, except that one waiting on a bulkId created later waits its turn
    # (§3.7.1): the lowest-numbered operation whose references are all resolved runs next. Each
    # operation's references are found once and counted down as bulkIds appear, so ordering
    # costs O(n log n), not a scan of every waiting operation (and of its data) per step.
    missing = [_refs(op.get("data")) for op in ops]
    waiting: dict[str, list[int]] = {}
    for i, refs in enumerate(missing):
        for ref in refs:
            waiting.setdefault(ref, []).append(i)
    runnable = [i for i, refs in enumerate(missing) if not refs]
    heapq.heapify(runnable)
    done = 0
    errors = 0
    while runnable and (fail_on_errors is None or errors < fail_on_errors):
        index = heapq.heappop(runnable)
        done += 1
        op = ops[index]
        try:
            results[index] = await _one(service, caller, op, ids)
        except ScimError as exc:
            results[index] = _error_entry(op, exc)
            errors += 1
        created = op.get("bulkId")
        if created is not None and str(created) in ids:
            for j in waiting.pop(str(created), ()):
                missing[j].discard(str(created))
                if not missing[j]:
                    heapq.heappush(runnable, j)
    if not runnable and done < len(ops) and (fail_on_errors is None or errors < fail_on_errors):
        # Only circular or dangling references remain.
        for i, entry in enumerate(results):
            if entry is None:
                results[i] = _error_entry(
                    ops[i], Conflict(f"Operation {i + 1} refers to a bulkId that no operation creates.")
                )
    return {"schemas": [BULK_RESPONSE_SCHEMA], "Operations": [r for r in results if r is not None]}


async def _one(service: Provisioning, caller: Caller, op: Mapping[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    method = str(op.get("method", "")).upper()
    if method not in _METHODS:
        raise InvalidValue(f"Unsupported bulk method {op.get('method')!r}.")
    rtype, id = _route(_substitute(op.get("path"), ids))
    bulk_id = op.get("bulkId")
    data = _substitute(op.get("data"), ids)
    version = op.get("version")
    pre = Preconditions()
    if isinstance(version, str):
        tags = parse_etags(version)
        pre = Preconditions(any_version=True) if tags is None else Preconditions(if_match=tags)
    entry: dict[str, Any] = {"method": method}
    if bulk_id is not None:
        entry["bulkId"] = bulk_id
    if method == "POST":
        if id is not None:
            raise InvalidValue("POST operations target a collection such as /Users.")
        if bulk_id is None:
            raise InvalidValue("POST operations need a 'bulkId'.")
        result = await service.create(caller, rtype, data)
        ids[str(bulk_id)] = result.id
        entry.update(location=result.location, version=etag(result.version), status="201")
        return entry
    if id is None:
        raise InvalidValue(f"{method} operations target a resource such as /Users/{{id}}.")
    if method == "DELETE":
        await service.delete(caller, rtype, id, pre)
        entry.update(location=f"{caller.base_url}{rtype.endpoint}/{id}", status="204")
        return entry
    if method == "PUT":
        result = await service.replace(caller, rtype, id, data, pre)
    else:
        result = await service.patch(caller, rtype, id, data, pre)
    entry.update(location=result.location, version=etag(result.version), status="200")
    return entry
