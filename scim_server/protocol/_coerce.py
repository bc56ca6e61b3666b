"""Checking and coercing incoming values against an attribute's definition (RFC 7643 §2.3).

One mechanism for every way a value reaches us (POST, PUT, PATCH with or without a path), so a
value stored through one door looks exactly like the same value stored through another. The IdP
dialects we accept are deliberately narrow: the strings ``"true"``/``"false"`` only for boolean
attributes (Entra sends ``"False"``), and a bare scalar for a complex attribute that has a
``value`` sub-attribute (Entra sends ``manager`` as a bare id).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any, Final

import structlog

from .errors import InvalidValue
from .limits import MAX_VALUES, check_values
from .schema import Attribute

__all__ = [
    "UNSET",
    "coerce",
    "coerce_element",
    "same_element",
    "element_key",
    "Distinct",
    "distinct",
    "matches_subset",
    "SubsetIndex",
    "one_primary",
]

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
    if len(items) > MAX_VALUES:
        check_values(name, len(items))
    out: list[Any] = []
    for item in items:
        element = coerce_element(attr, item, name)
        if element is not UNSET:
            out.append(element)
    if len(out) > 1:
        out = distinct(attr, out)
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


class _Unhashable:
    """The key of a value that cannot be hashed (a nested object, only under an unknown type)."""

    __slots__ = ()


_UNHASHABLE: Final = _Unhashable()


def _scalar_key(attr: Attribute, value: Any) -> Hashable:
    """A key equal for two values exactly when :func:`_same_scalar` says they are the same."""
    if isinstance(value, str) and not attr.case_exact:
        # casefold() equality is equality of the images, so hashing the image is exact.
        return (_CASELESS, value.casefold())
    if isinstance(value, list):
        # Lists compare element by element with ==, which tuples of the same elements keep.
        return (list, tuple(value))
    return (type(value), value)


_CASELESS: Final = "caseless"


def element_key(attr: Attribute, element: Any) -> Hashable:
    """A hashable key such that ``element_key(a) == element_key(b)`` iff ``same_element(attr, a, b)``.

    It turns the duplicate check of a list from comparing every pair into one set lookup per
    element. Returns :data:`_UNHASHABLE` for a value no key can stand for; callers compare those
    with :func:`same_element` (no attribute of our schemas produces one).
    """
    try:
        if not attr.is_complex:
            key = _scalar_key(attr, element)
        elif isinstance(element, Mapping):
            key = (Mapping, frozenset((k, _sub_key(attr, k, v)) for k, v in element.items()))
        else:
            # same_element never matches a non-object element of a complex attribute, not even
            # with itself; a fresh object keeps it distinct from everything.
            return object()
        hash(key)
    except TypeError:
        return _UNHASHABLE
    return key


def _sub_key(attr: Attribute, key: str, value: Any) -> Hashable:
    sub = attr.sub(key)
    if sub is None:
        # _same_sub compares these with plain ==, which the value's own hash agrees with.
        return (None, value if not isinstance(value, list) else tuple(value))
    return _scalar_key(sub, value)


#: Up to this many elements, comparing each with the earlier ones is cheaper than hashing them
#: (a user has one or two emails: the common case must not pay for the rare long list).
_PAIRWISE = 8


def distinct(attr: Attribute, elements: list[Any]) -> list[Any]:
    """``elements`` without the later of any two that :func:`same_element` calls the same; linear."""
    if len(elements) <= _PAIRWISE:
        out: list[Any] = []
        for element in elements:
            if not any(same_element(attr, element, seen) for seen in out):
                out.append(element)
        return out
    seen = Distinct(attr)
    return [e for e in elements if seen.add(e)]


class Distinct:
    """The elements of one multi-valued attribute seen so far, under :func:`same_element`."""

    __slots__ = ("attr", "_keys", "_odd")

    def __init__(self, attr: Attribute, elements: Iterable[Any] = ()) -> None:
        self.attr = attr
        self._keys: set[Hashable] = set()
        self._odd: list[Any] = []
        for element in elements:
            self.add(element)

    def add(self, element: Any) -> bool:
        """Remember ``element``; False when an equal one was seen before."""
        key = element_key(self.attr, element)
        if key is _UNHASHABLE:
            if any(same_element(self.attr, element, seen) for seen in self._odd):
                return False
            self._odd.append(element)
            return True
        if key in self._keys:
            return False
        self._keys.add(key)
        return True


class SubsetIndex:
    """``wanted`` values of an attribute indexed for :func:`matches_subset`, one lookup per key set.

    An element matches when it agrees with some wanted value on every sub-attribute that value
    names: wanted values are grouped by the sub-attributes they name, and an element is looked
    up once per group (a complex attribute has a few sub-attributes, so there are few groups).
    """

    __slots__ = ("attr", "_groups", "_odd")

    def __init__(self, attr: Attribute, wanted: Iterable[Any]) -> None:
        self.attr = attr
        self._groups: dict[frozenset[str] | None, set[Hashable]] = {}
        self._odd: list[Any] = []
        for value in wanted:
            names = frozenset(value) if attr.is_complex and isinstance(value, Mapping) else None
            if attr.is_complex and names is None:
                continue  # matches_subset never matches a non-object wanted value
            key = self._key(value, names)
            if key is _UNHASHABLE:
                self._odd.append(value)
            else:
                self._groups.setdefault(names, set()).add(key)

    def _key(self, value: Mapping[str, Any] | Any, names: frozenset[str] | None) -> Hashable:
        try:
            if names is None:
                key: Hashable = _scalar_key(self.attr, value)
            else:
                key = frozenset((k, _sub_key(self.attr, k, value[k])) for k in names)
            hash(key)
        except TypeError:
            return _UNHASHABLE
        return key

    def matches(self, element: Any) -> bool:
        """Whether ``element`` matches any wanted value (``matches_subset``)."""
        if any(matches_subset(self.attr, element, w) for w in self._odd):
            return True
        if not self.attr.is_complex:
            keys = self._groups.get(None)
            return keys is not None and self._key(element, None) in keys
        if not isinstance(element, Mapping):
            return False
        for names, keys in self._groups.items():
            assert names is not None
            # An element whose projection cannot be hashed holds a nested object there, which
            # no hashable wanted value equals; the unhashable wanted values were tried above.
            if names <= element.keys() and self._key(element, names) in keys:
                return True
        return False


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
    is_primary = set(primaries)  # a set: ``prefer`` may name every element of a long list
    preferred = [i for i in prefer if i in is_primary]
    keep = preferred[-1] if preferred else primaries[0]
    for i in primaries:
        if i != keep:
            elements[i]["primary"] = False
