"""Checking and coercing incoming values against an attribute's definition (RFC 7643 §2.3).

One mechanism for every way a value reaches us (POST, PUT, PATCH with or without a path), so a
value stored through one door looks exactly like the same value stored through another. The IdP
dialects we accept are deliberately narrow: the strings ``"true"``/``"false"`` only for boolean
attributes (Entra sends ``"False"``), and a bare scalar for a complex attribute that has a
``value`` sub-attribute (Entra sends ``manager`` as a bare id).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any, Final

import structlog

from .errors import InvalidValue
from .schema import Attribute

__all__ = ["UNSET", "coerce", "coerce_element", "same_element", "matches_subset", "one_primary"]

log = structlog.get_logger(__name__)


class _Unset(Enum):
    """An attribute with no value: JSON ``null``, ``[]``, ``{}`` (RFC 7643 §2.5)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET

# xsd:dateTime as RFC 7643 §2.3.5 uses it: RFC 3339, offset optional.
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")
_SCALARS = (str, int, float, bool)


def coerce(attr: Attribute, value: Any, name: str) -> Any:
    """The canonical form of ``value`` for the whole attribute ``attr`` (a list when multi-valued).

    Returns :data:`UNSET` when the value means "unassigned". ``name`` is the dotted attribute name
    used in error messages.
    """
    if value is None or value == []:
        return UNSET
    if not attr.multi_valued:
        if isinstance(value, list):
            raise InvalidValue(f"'{name}' is single-valued; a list is not accepted.")
        return coerce_element(attr, value, name)
    # A lone object (or scalar) for a multi-valued attribute is read as a one-element list.
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for item in items:
        element = coerce_element(attr, item, name)
        if element is UNSET or any(same_element(attr, element, seen) for seen in out):
            continue
        out.append(element)
    if not out:
        return UNSET
    if attr.is_complex:
        one_primary(out)
    return out


def coerce_element(attr: Attribute, value: Any, name: str) -> Any:
    """One value of ``attr``: the single value, or one element of a multi-valued attribute."""
    if value is None:
        return UNSET
    if attr.is_complex:
        return _complex(attr, value, name)
    return _simple(attr.type, value, name)


def _complex(attr: Attribute, value: Any, name: str) -> Any:
    if not isinstance(value, Mapping):
        if isinstance(value, _SCALARS) and attr.sub("value") is not None:
            value = {"value": value}
        else:
            raise InvalidValue(f"'{name}' must be an object.")
    given: dict[str, Any] = {}
    for key, raw in value.items():
        sub = attr.sub(key) if isinstance(key, str) else None
        if sub is None:
            log.debug("scim.attribute_ignored", attribute=f"{name}.{key}", reason="unknown")
            continue
        if sub.mutability in ("readOnly", "writeOnly"):
            # Clients echo server-computed sub-attributes (manager.displayName) back to us.
            continue
        coerced = coerce(sub, raw, f"{name}.{sub.name}")
        if coerced is not UNSET:
            given[sub.name] = coerced
    if not given:
        return UNSET
    return {sub.name: given[sub.name] for sub in attr.sub_attributes.values() if sub.name in given}


def _simple(kind: str, value: Any, name: str) -> Any:
    if kind in ("string", "reference", "binary"):
        if isinstance(value, str):
            return value
        raise InvalidValue(f"'{name}' must be a string.")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidValue(f"'{name}' must be a boolean.")
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InvalidValue(f"'{name}' must be an integer.")
    if kind == "decimal":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise InvalidValue(f"'{name}' must be a number.")
    if kind == "dateTime":
        if isinstance(value, str) and _DATETIME.match(value) and _valid_datetime(value):
            return value
        raise InvalidValue(f"'{name}' must be an RFC 3339 date-time, e.g. 2026-11-22T02:00:00Z.")
    return value


def _valid_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _same_scalar(attr: Attribute, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str) and not attr.case_exact:
        return a.casefold() == b.casefold()
    return type(a) is type(b) and a == b


def same_element(attr: Attribute, a: Any, b: Any) -> bool:
    """Whether two canonical values of ``attr`` are the same, honouring ``caseExact`` per sub-attribute."""
    if not attr.is_complex:
        return _same_scalar(attr, a, b)
    if not isinstance(a, Mapping) or not isinstance(b, Mapping) or a.keys() != b.keys():
        return False
    return all(_same_sub(attr, key, a[key], b[key]) for key in a)


def matches_subset(attr: Attribute, element: Any, wanted: Any) -> bool:
    """Whether ``element`` carries every sub-attribute value given in ``wanted`` (both canonical)."""
    if not attr.is_complex:
        return _same_scalar(attr, element, wanted)
    if not isinstance(element, Mapping) or not isinstance(wanted, Mapping):
        return False
    return all(key in element and _same_sub(attr, key, element[key], value) for key, value in wanted.items())


def _same_sub(attr: Attribute, key: str, a: Any, b: Any) -> bool:
    sub = attr.sub(key)
    return _same_scalar(sub, a, b) if sub is not None else a == b


def one_primary(elements: list[Any], prefer: Iterable[int] = ()) -> None:
    """Leave at most one element with ``primary: true`` (RFC 7643 §2.4).

    The last index in ``prefer`` that is primary wins (a PATCH that sets a new primary demotes
    the old one); otherwise the first primary element keeps it.
    """
    primaries = [i for i, e in enumerate(elements) if isinstance(e, dict) and e.get("primary") is True]
    if len(primaries) < 2:
        return
    preferred = [i for i in prefer if i in primaries]
    keep = preferred[-1] if preferred else primaries[0]
    for i in primaries:
        if i != keep:
            elements[i]["primary"] = False
