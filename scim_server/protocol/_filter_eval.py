"""Evaluating a parsed filter on a resource as GET returns it.

The rules here are the contract the SQL translation (``storage.filter_sql``) keeps row for row:
a multi-valued attribute matches when any element does, ``ne`` is the negation of ``eq`` (so a
resource without the attribute matches it), ``eq null`` is the negation of ``pr``, and strings of a
``caseExact=false`` attribute are compared after ``str.lower()`` on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._filter_ast import And, Compare, Filter, Not, Or, Present, ValueFilter
from ._filter_parse import parse_datetime
from .schema import Attribute, AttrRef

__all__ = ["compare_value", "element_matches", "is_present", "matches"]

_Values = Callable[[AttrRef], list[Any]]


def matches(f: Filter, resource: Mapping[str, Any]) -> bool:
    """Whether ``resource`` (core attributes at the top, extensions under their URN) satisfies ``f``."""
    return _evaluate(f, lambda ref: _resource_values(resource, ref), lambda ref: _elements(resource, ref))


def element_matches(f: Filter, element: Mapping[str, Any]) -> bool:
    """Whether one element of a complex attribute satisfies a value filter's inner filter."""

    def values(ref: AttrRef) -> list[Any]:
        if ref.sub is None:
            return []
        value = element.get(ref.sub.name)
        return [] if value is None else [value]

    def no_elements(_ref: AttrRef) -> list[Mapping[str, Any]]:
        return []

    return _evaluate(f, values, no_elements)


def _evaluate(f: Filter, values: _Values, elements: Callable[[AttrRef], list[Mapping[str, Any]]]) -> bool:
    match f:
        case And(left, right):
            return _evaluate(left, values, elements) and _evaluate(right, values, elements)
        case Or(left, right):
            return _evaluate(left, values, elements) or _evaluate(right, values, elements)
        case Not(inner):
            return not _evaluate(inner, values, elements)
        case Present(ref):
            return _present(ref, values)
        case Compare(ref, op, literal):
            if literal is None:
                present = _present(ref, values)
                return present if op == "ne" else not present
            if op == "ne":
                return not any(compare_value(ref.target, "eq", v, literal) for v in values(ref))
            return any(compare_value(ref.target, op, v, literal) for v in values(ref))
        case ValueFilter(ref, inner):
            return any(element_matches(inner, el) for el in elements(ref))
    raise TypeError(f"not a filter: {f!r}")


def _present(ref: AttrRef, values: _Values) -> bool:
    target = ref.target
    if target.is_complex and not target.multi_valued:
        # RFC 7644 §3.4.2.2: a complex attribute is present when one of its sub-attributes is.
        return any(_present(AttrRef(ref.schema, ref.attribute, s), values) for s in target.sub_attributes.values())
    if target.is_complex:
        return bool(values(ref))
    return any(is_present(v) for v in values(ref))


def is_present(value: Any) -> bool:
    """RFC 7644 §3.4.2.2 ``pr``: neither null, nor an empty string, array or object."""
    return value is not None and value != "" and value != [] and value != {}


def _container(resource: Mapping[str, Any], ref: AttrRef) -> Mapping[str, Any] | None:
    if ref.is_extension:
        assert ref.schema is not None
        ext = resource.get(ref.schema)
        return ext if isinstance(ext, Mapping) else None
    return resource


def _raw(resource: Mapping[str, Any], ref: AttrRef) -> Any:
    container = _container(resource, ref)
    return None if container is None else container.get(ref.attribute.name)


def _elements(resource: Mapping[str, Any], ref: AttrRef) -> list[Mapping[str, Any]]:
    raw = _raw(resource, ref)
    items = raw if isinstance(raw, list) else [raw]
    return [item for item in items if isinstance(item, Mapping)]


def _resource_values(resource: Mapping[str, Any], ref: AttrRef) -> list[Any]:
    """Every value ``ref`` names in ``resource``: one per element of a multi-valued attribute."""
    raw = _raw(resource, ref)
    if raw is None:
        return []
    if ref.sub is not None:
        return [v for el in _elements(resource, ref) if (v := el.get(ref.sub.name)) is not None]
    if ref.attribute.multi_valued:
        return [v for v in raw if v is not None] if isinstance(raw, list) else [raw]
    return [raw]


def compare_value(target: Attribute, op: str, value: Any, literal: str | int | float | bool) -> bool:
    """Compare one attribute value with a filter literal; values of the wrong type never match."""
    kind = target.type
    if kind in ("string", "reference", "binary"):
        if not isinstance(value, str) or not isinstance(literal, str):
            return False
        if not target.case_exact:
            value, literal = value.lower(), literal.lower()
        return _ordered(op, value, literal)
    if kind == "boolean":
        return isinstance(value, bool) and op == "eq" and value is literal
    if kind in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return _ordered(op, value, literal)
    if kind == "dateTime":
        when = parse_datetime(value) if isinstance(value, str) else None
        bound = parse_datetime(literal) if isinstance(literal, str) else None
        return when is not None and bound is not None and _ordered(op, when, bound)
    return False


def _ordered(op: str, a: Any, b: Any) -> bool:
    match op:
        case "eq":
            return bool(a == b)
        case "co":
            return bool(b in a)
        case "sw":
            return bool(a.startswith(b))
        case "ew":
            return bool(a.endswith(b))
        case "gt":
            return bool(a > b)
        case "ge":
            return bool(a >= b)
        case "lt":
            return bool(a < b)
        case "le":
            return bool(a <= b)
    return False
