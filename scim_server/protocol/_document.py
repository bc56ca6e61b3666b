"""The canonical resource document kept in ``data`` (DESIGN §4, ``storage/tables.py``).

Shape: ``schemas`` first (the core URN, then each extension URN that carries data), then
``externalId``, the core attributes and the extension blocks, all in the schema's order and
spelling, with no empty values. ``id``, ``meta``, read-only and write-only attributes and a group's
``members`` are never part of it. Both :func:`normalise` and :func:`apply_patch` end here, so the
same resource is byte-for-byte the same document whichever way it was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._coerce import UNSET, coerce_element, distinct, one_primary
from .errors import InvalidValue, ScimError
from .limits import MAX_MEMBERS
from .schema import GROUP_SCHEMA, Attribute, ResourceType

__all__ = ["MemberRef", "is_members", "assemble", "require", "member_refs"]

_MEMBER_TYPES = {"user": "User", "group": "Group"}


@dataclass(frozen=True, slots=True)
class MemberRef:
    """One member of a group as a client named it; whether it exists is the service's question."""

    value: str
    type: str | None = None
    display: str | None = None


def is_members(rtype: ResourceType, attr: Attribute) -> bool:
    """A group's ``members``: kept in its own table, never in ``data``."""
    return rtype.schema.id == GROUP_SCHEMA and attr.name == "members"


def assemble(rtype: ResourceType, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Put a document whose values are already coerced into canonical shape."""
    schemas = [rtype.schema.id]
    out: dict[str, Any] = {"schemas": schemas}
    found = rtype.top_level("externalId")
    assert found is not None
    _put(out, found[1], doc.get(found[1].name))
    _put_all(rtype, out, rtype.schema.attributes.values(), doc)
    for ext, _ in rtype.extensions:
        block = doc.get(ext.id)
        if not isinstance(block, dict):
            continue
        tidy: dict[str, Any] = {}
        _put_all(rtype, tidy, ext.attributes.values(), block)
        if tidy:
            out[ext.id] = tidy
            schemas.append(ext.id)
    return out


def _put_all(rtype: ResourceType, out: dict[str, Any], attributes: Iterable[Attribute], doc: Mapping[str, Any]) -> None:
    """Copy the attributes ``data`` may hold, in schema order."""
    for attr in attributes:
        value = doc.get(attr.name)
        if value is not None and attr.mutability not in ("readOnly", "writeOnly") and not is_members(rtype, attr):
            _put(out, attr, value)


def _put(out: dict[str, Any], attr: Attribute, value: Any) -> None:
    tidy = _tidy(attr, value)
    if tidy is not UNSET:
        out[attr.name] = tidy


def _tidy(attr: Attribute, value: Any) -> Any:
    if value is None:
        return UNSET
    if attr.multi_valued:
        if not isinstance(value, list):
            return UNSET
        if not attr.is_complex:
            return [v for v in value if v is not None] or UNSET
        out: list[Any] = []
        for element in value:
            element = _tidy_one(attr, element)
            if element is not UNSET:
                out.append(element)
        if len(out) > 1:
            out = distinct(attr, out)
        if attr.is_complex:
            one_primary(out)
        return out or UNSET
    return _tidy_one(attr, value)


def _tidy_one(attr: Attribute, value: Any) -> Any:
    if value is None:
        return UNSET
    if not attr.is_complex:
        return value
    if not isinstance(value, dict):
        return UNSET
    tidy = {
        sub.name: value[sub.name]
        for sub in attr.sub_attributes.values()
        if value.get(sub.name) is not None and sub.mutability not in ("readOnly", "writeOnly")
    }
    return tidy or UNSET


def require(rtype: ResourceType, doc: Mapping[str, Any], missing: type[ScimError]) -> None:
    """Refuse a document without its required attributes (``userName``, a group's ``displayName``).

    ``missing`` is the error for an absent attribute: ``invalidValue`` when a POST or PUT leaves
    it out, ``mutability`` when a PATCH removes it (RFC 7644 §3.5.2.2). A blank string is always
    ``invalidValue``.
    """
    blocks: list[tuple[str, Iterable[Attribute], Mapping[str, Any]]] = [("", rtype.schema.attributes.values(), doc)]
    for ext, _ in rtype.extensions:
        block = doc.get(ext.id)
        if isinstance(block, Mapping):
            blocks.append((f"{ext.id}:", ext.attributes.values(), block))
    for prefix, attributes, block in blocks:
        for attr in attributes:
            if not attr.required or attr.mutability in ("readOnly", "writeOnly") or is_members(rtype, attr):
                continue
            value = block.get(attr.name)
            if value is None:
                raise missing(f"'{prefix}{attr.name}' is required.")
            if isinstance(value, str) and not value.strip():
                raise InvalidValue(f"'{prefix}{attr.name}' must not be empty.")


def member_refs(attr: Attribute, value: Any) -> list[MemberRef]:
    """The members named by a ``members`` value: a list of ``{value, type?, display?}``.

    ``$ref`` is ignored (we derive it); duplicates collapse to the first mention.
    """
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_MEMBERS:
        raise InvalidValue(
            f"'{attr.name}' names {len(items)} members; at most {MAX_MEMBERS} are accepted in one request."
        )
    refs: dict[str, MemberRef] = {}
    for index, item in enumerate(items):
        if item is None:
            continue
        if isinstance(item, Mapping):
            item = {k: v for k, v in item.items() if not (isinstance(k, str) and k.lower() == "$ref")}
        element = coerce_element(attr, item, f"{attr.name}[{index}]")
        member_id = element.get("value") if element is not UNSET else None
        if not isinstance(member_id, str) or not member_id.strip():
            raise InvalidValue(f"'{attr.name}[{index}].value' is required: the id of the member.")
        kind = element.get("type")
        if kind is not None:
            canonical = _MEMBER_TYPES.get(kind.lower())
            if canonical is None:
                raise InvalidValue(f"'{attr.name}[{index}].type' must be 'User' or 'Group'.")
            kind = canonical
        if member_id not in refs:
            refs[member_id] = MemberRef(member_id, kind, element.get("display"))
    return list(refs.values())
