"""The filter tree (RFC 7644 §3.4.2.2) and PATCH path (§3.5.2): plain immutable data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .schema import Attribute, AttrRef

__all__ = [
    "COMPARE_OPS",
    "And",
    "Compare",
    "Filter",
    "Literal",
    "Not",
    "Or",
    "PatchPath",
    "Present",
    "ValueFilter",
]

#: The comparison operators of RFC 7644 Table 3, lower-cased (clients may send any case).
COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})

Literal: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Compare:
    """``attrPath op value``. A bare multi-valued complex attribute is resolved to its ``value``."""

    ref: AttrRef
    op: str
    value: Literal


@dataclass(frozen=True, slots=True)
class Present:
    """``attrPath pr``: the attribute has a non-empty value."""

    ref: AttrRef


@dataclass(frozen=True, slots=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Not:
    inner: Filter


@dataclass(frozen=True, slots=True)
class ValueFilter:
    """``attr[inner]``: some element of the complex attribute ``ref`` satisfies ``inner``.

    The refs inside ``inner`` are ``AttrRef(schema, attribute=ref.attribute, sub=<sub-attribute>)``.
    """

    ref: AttrRef
    inner: Filter


Filter: TypeAlias = Compare | Present | And | Or | Not | ValueFilter


@dataclass(frozen=True, slots=True)
class PatchPath:
    """A PATCH operation's target: ``attrPath`` or ``valuePath [ "." subAttr ]`` (RFC 7644 §3.5.2).

    ``name.givenName`` has ``ref.sub`` set and no filter; ``emails[type eq "work"].value`` has
    ``ref`` naming ``emails``, the element filter in ``value_filter`` and ``sub`` naming ``value``.
    """

    ref: AttrRef
    value_filter: Filter | None = None
    sub: Attribute | None = None
