"""Incoming resources: from a POST or PUT body to the canonical document stored in ``data``.

RFC 7643 §2 (attribute characteristics), RFC 7644 §3.3 (create) and §3.5.1 (replace). Names are
matched case-insensitively and written back in the schema's spelling; values are checked and
coerced per attribute type; what the server owns (``id``, ``meta``, read-only attributes) and what
it must never keep (``password``) is dropped. A group's ``members`` come back separately, because
membership lives in its own table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from ._coerce import UNSET, coerce
from ._document import MemberRef, assemble, is_members, member_refs, require
from .errors import InvalidSyntax, InvalidValue, Mutability
from .schema import Attribute, ResourceType, SchemaDef

__all__ = ["MemberRef", "Normalised", "normalise", "check_immutable", "changed_attributes"]

log = structlog.get_logger(__name__)

#: Common attributes the server assigns; a client's copy is ignored (RFC 7643 §3.1).
_SERVER_OWNED = frozenset({"id", "meta"})


@dataclass(slots=True)
class Normalised:
    data: dict[str, Any]
    #: The group's members as sent; ``None`` when the body had no ``members`` (keep the current ones).
    members: list[MemberRef] | None


def normalise(rtype: ResourceType, body: Any) -> Normalised:
    """Turn a POST/PUT body into the canonical document; raise a SCIM error naming what is wrong."""
    if not isinstance(body, Mapping):
        raise InvalidSyntax("The request body must be a JSON object.")
    reader = _Reader(rtype, _listed_schemas(body))
    for key, value in body.items():
        if isinstance(key, str):
            reader.take(key, value)
    require(rtype, reader.doc, InvalidValue)
    return Normalised(assemble(rtype, reader.doc), reader.members)


def _listed_schemas(body: Mapping[str, Any]) -> frozenset[str]:
    """The lower-cased URNs in the body's ``schemas``; rebuilt on output, so only checked here."""
    for key, value in body.items():
        if isinstance(key, str) and key.lower() == "schemas":
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                raise InvalidSyntax("'schemas' must be a list of schema URNs.")
            return frozenset(s.lower() for s in value)
    return frozenset()


class _Reader:
    """Collects one body's attributes into a working document, in the schema's spelling."""

    def __init__(self, rtype: ResourceType, listed: frozenset[str]) -> None:
        self.rtype = rtype
        self.listed = listed
        self.doc: dict[str, Any] = {}
        self.members: list[MemberRef] | None = None

    def take(self, key: str, value: Any) -> None:
        low = key.lower()
        if low == "schemas" or low in _SERVER_OWNED:
            return
        if low.startswith("urn:"):
            self._take_urn(key, value)
            return
        found = self.rtype.top_level(key)
        if found is None:
            log.debug("scim.attribute_ignored", attribute=key, reason="unknown")
            return
        self._put(self.doc, found[1], value, found[1].name)

    def _take_urn(self, key: str, value: Any) -> None:
        low = key.lower()
        for schema in self.rtype.schemas():
            sid = schema.id.lower()
            if low == sid:
                self._take_block(schema, value)
                return
            if low.startswith(sid + ":"):
                self._take_flat(schema, key[len(sid) + 1 :], value)
                return
        if any(low == s or low.startswith(s + ":") for s in self.listed):
            raise InvalidValue(f"Schema '{key}' is not supported for {self.rtype.name} resources.")
        log.debug("scim.attribute_ignored", attribute=key, reason="unknown schema")

    def _take_block(self, schema: SchemaDef, value: Any) -> None:
        """``"<urn>": {...}``: an extension's attributes (or, rarely, the core's) under their URN."""
        if value is None:
            return
        if not isinstance(value, Mapping):
            raise InvalidValue(f"'{schema.id}' must be an object holding that schema's attributes.")
        core = schema.id == self.rtype.schema.id
        for key, raw in value.items():
            attr = schema.get(key) if isinstance(key, str) else None
            if attr is None:
                log.debug("scim.attribute_ignored", attribute=f"{schema.id}:{key}", reason="unknown")
                continue
            self._put(self._container(schema, core), attr, raw, _qualified(schema, core, attr.name))

    def _take_flat(self, schema: SchemaDef, rest: str, value: Any) -> None:
        """``"<urn>:attr"`` or ``"<urn>:attr.sub"``: one attribute written with its schema."""
        core = schema.id == self.rtype.schema.id
        head, _, sub_name = rest.partition(".")
        attr = schema.get(head)
        if attr is None:
            log.debug("scim.attribute_ignored", attribute=f"{schema.id}:{rest}", reason="unknown")
            return
        container = self._container(schema, core)
        if not sub_name:
            self._put(container, attr, value, _qualified(schema, core, attr.name))
            return
        sub = attr.sub(sub_name) if attr.is_complex and not attr.multi_valued else None
        if sub is None:
            log.debug("scim.attribute_ignored", attribute=f"{schema.id}:{rest}", reason="unknown")
            return
        if attr.mutability in ("readOnly", "writeOnly") or sub.mutability in ("readOnly", "writeOnly"):
            return
        coerced = coerce(sub, value, _qualified(schema, core, f"{attr.name}.{sub.name}"))
        if coerced is not UNSET:
            current = container.get(attr.name)
            block = dict(current) if isinstance(current, Mapping) else {}
            block[sub.name] = coerced
            container[attr.name] = block

    def _container(self, schema: SchemaDef, core: bool) -> dict[str, Any]:
        if core:
            return self.doc
        block = self.doc.get(schema.id)
        if not isinstance(block, dict):
            block = self.doc[schema.id] = {}
        return block

    def _put(self, container: dict[str, Any], attr: Attribute, value: Any, name: str) -> None:
        if is_members(self.rtype, attr):
            self.members = member_refs(attr, value)
            return
        if attr.mutability in ("readOnly", "writeOnly"):
            # Read-only values are the server's to compute; passwords we never keep.
            log.debug("scim.attribute_ignored", attribute=name, reason=attr.mutability)
            return
        coerced = coerce(attr, value, name)
        if coerced is UNSET:
            container.pop(attr.name, None)
        else:
            container[attr.name] = coerced


def _qualified(schema: SchemaDef, core: bool, name: str) -> str:
    return name if core else f"{schema.id}:{name}"


def check_immutable(rtype: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Refuse a change to an immutable attribute that already has a value (RFC 7644 §3.5.1).

    Leaving such an attribute out of a PUT is a change too: it would unassign it.
    """
    for name, attr, before, after in _differences(rtype, old, new, split=False):
        if attr.mutability == "immutable":
            if before is not None:
                raise Mutability(f"'{name}' is immutable and already has a value.")
        elif attr.is_complex and not attr.multi_valued:
            before = before if isinstance(before, Mapping) else {}
            after = after if isinstance(after, Mapping) else {}
            for sub in attr.sub_attributes.values():
                was = before.get(sub.name)
                if sub.mutability == "immutable" and was is not None and was != after.get(sub.name):
                    raise Mutability(f"'{name}.{sub.name}' is immutable and already has a value.")


def changed_attributes(rtype: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The sorted names of the attributes whose value differs between two canonical documents.

    Names only, never values: this goes into audit metadata. A single-valued complex attribute
    is reported per sub-attribute (``name.givenName``); a multi-valued one as a whole (``emails``).
    """
    return sorted(name for name, _, _, _ in _differences(rtype, old, new, split=True))


def _differences(
    rtype: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any], *, split: bool
) -> Iterator[tuple[str, Attribute, Any, Any]]:
    """``(name, attribute, old value, new value)`` for every attribute whose value differs.

    With ``split``, a single-valued complex attribute is yielded per sub-attribute. Only keys that
    are present are visited, and equal values are passed over at once: a PATCH touches a handful
    of attributes out of dozens.
    """
    yield from _block_differences("", lambda key: _core_attribute(rtype, key), old, new, split)
    for ext, _ in rtype.extensions:
        before, after = old.get(ext.id), new.get(ext.id)
        if before is not None or after is not None:
            yield from _block_differences(f"{ext.id}:", ext.get, before, after, split)


def _core_attribute(rtype: ResourceType, key: str) -> Attribute | None:
    found = rtype.top_level(key)
    return found[1] if found is not None else None


def _block_differences(
    prefix: str, lookup: Callable[[str], Attribute | None], old: Any, new: Any, split: bool
) -> Iterator[tuple[str, Attribute, Any, Any]]:
    old = old if isinstance(old, Mapping) else {}
    new = new if isinstance(new, Mapping) else {}
    for key in old.keys() | new.keys():
        attr = lookup(key) if isinstance(key, str) else None
        if attr is None:
            continue
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if split and attr.is_complex and not attr.multi_valued:
            before = before if isinstance(before, Mapping) else {}
            after = after if isinstance(after, Mapping) else {}
            for sub_key in before.keys() | after.keys():
                sub = attr.sub(sub_key)
                if sub is not None and before.get(sub_key) != after.get(sub_key):
                    yield f"{prefix}{attr.name}.{sub.name}", sub, before.get(sub_key), after.get(sub_key)
        else:
            yield f"{prefix}{attr.name}", attr, before, after
