"""``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9), applied to stored JSON.

Projection works on the canonical dict the database already holds: no model round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidValue, ScimError
from .schema import COMMON_ATTRIBUTES, ResourceType

__all__ = ["Projection", "parse_projection"]


@dataclass(frozen=True, slots=True)
class _Selection:
    # top-level key (schema spelling or extension URN) -> None for the whole attribute, or the selected
    # sub-keys (for extensions: attribute names -> nested selection or None)
    keys: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, sub: str | None = None, subsub: str | None = None) -> None:
        if sub is None:
            self.keys[key] = None
            return
        current = self.keys.setdefault(key, {})
        if current is None:
            return
        if subsub is None:
            current[sub] = None
        else:
            inner = current.setdefault(sub, {})
            if inner is not None:
                inner[subsub] = None


def _parse_list(rtype: ResourceType, text: str | None) -> _Selection | None:
    if text is None:
        return None
    selection = _Selection()
    for raw in text.split(","):
        path = raw.strip()
        if not path:
            continue
        try:
            ext = rtype.extension(path) if path.lower().startswith("urn:") else None
            if ext is not None:
                selection.add(ext.id)
                continue
            ref = rtype.resolve(path)
        except ScimError:
            # RFC 7644 leaves unknown names in attribute lists to the provider; asking for an
            # attribute that does not exist selects nothing rather than failing the request.
            continue
        if ref.is_extension:
            assert ref.schema is not None
            selection.add(ref.schema, ref.attribute.name, ref.sub.name if ref.sub else None)
        else:
            selection.add(ref.attribute.name, ref.sub.name if ref.sub else None)
    return selection


_ALWAYS: dict[str, frozenset[str]] = {}


def _always_returned(rtype: ResourceType) -> frozenset[str]:
    """Attribute names returned whatever ``attributes`` says (computed once per resource type)."""
    known = _ALWAYS.get(rtype.name)
    if known is not None:
        return known
    names = {"schemas"}
    for attr in (*COMMON_ATTRIBUTES.values(), *rtype.schema.attributes.values()):
        if attr.returned == "always":
            names.add(attr.name)
    _ALWAYS[rtype.name] = frozenset(names)
    return _ALWAYS[rtype.name]


@dataclass(frozen=True, slots=True)
class Projection:
    """What to return of each resource. Build once per request; apply per resource."""

    rtype: ResourceType
    include: _Selection | None
    exclude: _Selection | None

    @property
    def explicit(self) -> bool:
        """Whether the request named ``attributes`` or ``excludedAttributes`` (else it returns the default set)."""
        return self.include is not None or self.exclude is not None

    def wants(self, name: str) -> bool:
        """Whether a top-level attribute is returned (lets callers skip loading members or groups)."""
        if self.include is not None:
            return name in self.include.keys or name in _always_returned(self.rtype)
        if self.exclude is not None and self.exclude.keys.get(name, ...) is None:
            return name in _always_returned(self.rtype)
        return True

    def asks_for(self, name: str) -> bool:
        """Whether ``attributes`` names this top-level attribute explicitly."""
        return self.include is not None and name in self.include.keys

    def apply(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        always = _always_returned(self.rtype)
        if self.include is not None:
            out = {k: v for k, v in resource.items() if k in always}
            for key, sub in self.include.keys.items():
                if key in resource and key not in out:
                    picked = _pick(resource[key], sub)
                    if picked is not None:
                        out[key] = picked
            return out
        if self.exclude is not None:
            out = dict(resource)
            for key, sub in self.exclude.keys.items():
                if key not in out or key in always:
                    continue
                if sub is None:
                    del out[key]
                else:
                    out[key] = _drop(out[key], sub)
            return out
        return dict(resource)


def _pick(value: Any, sub: Mapping[str, Any] | None) -> Any:
    if sub is None:
        return value
    if isinstance(value, list):
        items = [_pick(v, sub) for v in value]
        return [i for i in items if i] or None
    if isinstance(value, Mapping):
        out = {}
        for name, inner in sub.items():
            for key, v in value.items():
                if key.lower() == name.lower():
                    picked = _pick(v, inner)
                    if picked is not None:
                        out[key] = picked
        return out or None
    return None


def _drop(value: Any, sub: Mapping[str, Any]) -> Any:
    if isinstance(value, list):
        return [_drop(v, sub) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for key, v in value.items():
            match = next((s for s in sub if s.lower() == key.lower()), None)
            if match is None:
                out[key] = v
            elif sub[match] is not None:
                out[key] = _drop(v, sub[match])
        return out
    return value


def parse_projection(rtype: ResourceType, attributes: str | None, excluded: str | None) -> Projection:
    if attributes is not None and excluded is not None:
        raise InvalidValue("'attributes' and 'excludedAttributes' cannot be combined.")
    return Projection(rtype, _parse_list(rtype, attributes), _parse_list(rtype, excluded))
