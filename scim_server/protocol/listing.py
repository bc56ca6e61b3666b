"""List requests: query parameters, ``/.search`` bodies, paging and cursors (RFC 7644 §3.4.2, RFC 9865)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import BadRequest, InvalidSyntax, InvalidValue, ScimError
from .filter import Filter, parse_filter
from .projection import Projection, parse_projection
from .schema import AttrRef, ResourceType

__all__ = [
    "LIST_RESPONSE_SCHEMA",
    "SEARCH_REQUEST_SCHEMA",
    "ListQuery",
    "Cursor",
    "InvalidCursor",
    "parse_list_query",
    "list_response",
]

LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


class InvalidCursor(BadRequest):
    """RFC 9865 §4: the cursor is not one this server issued."""

    scim_type = "invalidCursor"
    default_detail = "The cursor value is invalid or has expired."


@dataclass(frozen=True, slots=True)
class Cursor:
    """Opaque to clients. ``after`` is the last internal key served (keyset on the default order);
    ``offset`` is used when a sort order makes keyset continuation impossible."""

    after: int | None = None
    offset: int | None = None

    def encode(self) -> str:
        raw = orjson.dumps({"a": self.after} if self.after is not None else {"o": self.offset})
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = orjson.loads(raw)
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            raise InvalidCursor() from None
        if isinstance(data, dict) and isinstance(data.get("a"), int) and data["a"] >= 0:
            return cls(after=data["a"])
        if isinstance(data, dict) and isinstance(data.get("o"), int) and data["o"] >= 0:
            return cls(offset=data["o"])
        raise InvalidCursor()


@dataclass(frozen=True, slots=True)
class ListQuery:
    filter: Filter | None
    sort_by: AttrRef | None
    descending: bool
    #: 1-based, as in SCIM.
    start_index: int
    count: int
    projection: Projection
    #: Set when the client asked for cursor paging (RFC 9865): None = index paging.
    cursor: Cursor | None
    use_cursor: bool


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidValue(f"'{name}' must be an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise InvalidValue(f"'{name}' must be an integer.")


def _attr_list(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise InvalidValue(f"'{name}' must be a list of attribute names.")


def parse_list_query(
    rtype: ResourceType, params: Mapping[str, Any], *, default_count: int, max_count: int
) -> ListQuery:
    """Build a ListQuery from query parameters or a ``/.search`` body (keys compared case-insensitively)."""
    p = {k.lower(): v for k, v in params.items()}
    raw_filter = p.get("filter")
    if raw_filter is not None and not isinstance(raw_filter, str):
        raise InvalidSyntax("'filter' must be a string.")
    flt = parse_filter(raw_filter, rtype) if raw_filter not in (None, "") else None

    sort_by = None
    raw_sort = p.get("sortby")
    if raw_sort not in (None, ""):
        if not isinstance(raw_sort, str):
            raise InvalidValue("'sortBy' must be an attribute name.")
        try:
            sort_by = rtype.resolve(raw_sort)
        except ScimError:
            raise InvalidValue(f"'sortBy' names an unknown attribute: {raw_sort!r}.") from None
        if sort_by.target.is_complex:
            raise InvalidValue("'sortBy' must name a simple attribute.")
    order = p.get("sortorder")
    if order not in (None, "") and (not isinstance(order, str) or order.lower() not in ("ascending", "descending")):
        raise InvalidValue("'sortOrder' must be 'ascending' or 'descending'.")
    descending = isinstance(order, str) and order.lower() == "descending"

    start = _int(p["startindex"], "startIndex") if p.get("startindex") not in (None, "") else 1
    start = max(start, 1)  # RFC 7644 §3.4.2.4: a value below 1 is interpreted as 1
    count = _int(p["count"], "count") if p.get("count") not in (None, "") else default_count
    count = min(max(count, 0), max_count)  # negative → 0; above the advertised maximum → capped

    cursor = None
    use_cursor = "cursor" in p
    if use_cursor:
        if "startindex" in p and p.get("startindex") not in (None, ""):
            raise InvalidValue("'cursor' and 'startIndex' cannot be combined.")
        raw_cursor = p.get("cursor")
        if raw_cursor not in (None, ""):
            if not isinstance(raw_cursor, str):
                raise InvalidCursor()
            cursor = Cursor.decode(raw_cursor)

    projection = parse_projection(
        rtype,
        _attr_list(p.get("attributes"), "attributes"),
        _attr_list(p.get("excludedattributes"), "excludedAttributes"),
    )
    return ListQuery(flt, sort_by, descending, start, count, projection, cursor, use_cursor)


def list_response(
    resources: list[dict[str, Any]], *, total: int, query: ListQuery, next_cursor: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": len(resources),
    }
    if not query.use_cursor:
        body["startIndex"] = query.start_index
    elif next_cursor is not None:
        body["nextCursor"] = next_cursor
    body["Resources"] = resources
    return body
