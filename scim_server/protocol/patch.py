"""The PATCH engine (RFC 7644 §3.5.2): operations applied to a canonical document, purely.

``apply_patch`` takes the stored document and a PatchOp body and returns the new document, the
names of the attributes that changed and, for a group, the membership changes to make. Members
are never materialised: one added member is one row for the service to write, whatever the size
of the group.

Accepted dialects, each with the reason:

- op names in any case (Entra sends ``"Replace"``, ``"Add"``, ``"Remove"``);
- no-path ``add``/``replace`` values keyed by plain, dotted (``name.givenName``) or URN-qualified
  names, or by an extension URN holding an object (Okta, Entra);
- ``add``/``replace`` on a value-filtered path that matches nothing creates the element from the
  filter's ``eq`` terms (Entra writes ``emails[type eq "work"].value`` for a user with no work
  email yet);
- ``remove`` on ``members`` with a value array (Okta, Entra) as well as with a filter;
- ``remove`` with a value filter that matches nothing succeeds without change, so a retried
  removal is not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from ._coerce import UNSET, Distinct, SubsetIndex, coerce, coerce_element, one_primary
from ._document import MemberRef, assemble, is_members, member_refs, require
from .errors import InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget, ScimError
from .filter import And, Compare, Filter, Not, Or, PatchPath, ValueFilter, element_matches, parse_path
from .limits import MAX_FILTER_CONDITIONS, MAX_MEMBERS, MAX_PATCH_OPERATIONS, PatchBudget, check_values
from .schema import Attribute, AttrRef, ResourceType
from .validate import changed_attributes, check_immutable

__all__ = ["PATCH_OP_SCHEMA", "MemberChanges", "PatchOutcome", "apply_patch"]

log = structlog.get_logger(__name__)

PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

_OPS = frozenset({"add", "replace", "remove"})
#: Keys a no-path value may carry that identify rather than modify (Okta sends the group's ``id``).
_IGNORED_KEYS = frozenset({"schemas", "id", "meta"})


@dataclass(slots=True)
class MemberChanges:
    """What a PATCH does to a group's membership, to apply in this order:
    ``remove_all``, then ``remove_where``, then ``remove``, then ``add``.
    """

    add: list[MemberRef]
    remove: set[str]
    remove_all: bool = False
    remove_where: Filter | None = None


@dataclass(slots=True)
class PatchOutcome:
    data: dict[str, Any]
    changed: list[str]
    members: MemberChanges | None


def apply_patch(rtype: ResourceType, data: Mapping[str, Any], body: Any) -> PatchOutcome:
    """Apply a PatchOp body to ``data`` (a canonical document); all operations or none (RFC 7644 §3.5.2)."""
    operations = _operations(body)
    patcher = _Patcher(rtype, _clone(data))
    for number, raw in enumerate(operations, start=1):
        op, path, value, has_value = _operation(raw, number)
        try:
            patcher.apply(op, path, value, has_value)
        except ScimError as exc:
            where = f"Operation {number} ({op}{' ' + path if path else ''})"
            raise type(exc)(f"{where}: {exc.detail}") from exc
    result = assemble(rtype, patcher.doc)
    require(rtype, result, Mutability)
    check_immutable(rtype, data, result)
    changed = changed_attributes(rtype, data, result)
    members = patcher.members.outcome()
    if members is not None:
        changed = sorted({*changed, "members"})
    return PatchOutcome(result, changed, members)


def _operations(body: Any) -> list[Any]:
    if not isinstance(body, Mapping):
        raise InvalidSyntax("A PATCH body must be a JSON object with 'Operations'.")
    operations: Any = None
    for key, value in body.items():
        if not isinstance(key, str):
            continue
        low = key.lower()
        if low == "schemas":
            if not isinstance(value, list) or not any(
                isinstance(s, str) and s.lower() == PATCH_OP_SCHEMA.lower() for s in value
            ):
                raise InvalidSyntax(f"'schemas' must be [\"{PATCH_OP_SCHEMA}\"].")
        elif low == "operations":
            operations = value
    if not isinstance(operations, list):
        raise InvalidSyntax("A PATCH body needs 'Operations': a list of add, replace or remove operations.")
    if not operations:
        raise InvalidValue("'Operations' must hold at least one operation.")
    if len(operations) > MAX_PATCH_OPERATIONS:
        raise InvalidValue(
            f"'Operations' holds {len(operations)} operations; at most {MAX_PATCH_OPERATIONS} are accepted in one request."
        )
    return operations


def _operation(raw: Any, number: int) -> tuple[str, str | None, Any, bool]:
    """``(op, path, value, has_value)`` of one operation; keys in any case."""
    if not isinstance(raw, Mapping):
        raise InvalidSyntax(f"Operation {number} must be an object with 'op', 'path' and 'value'.")
    fields = {k.lower(): v for k, v in raw.items() if isinstance(k, str)}
    op = fields.get("op")
    if not isinstance(op, str):
        raise InvalidSyntax(f"Operation {number} needs 'op': add, replace or remove.")
    op = op.lower()
    if op not in _OPS:
        raise InvalidValue(f"Operation {number}: '{raw.get('op')}' is not add, replace or remove.")
    path = fields.get("path")
    if path is not None and not isinstance(path, str):
        raise InvalidPath(f"Operation {number}: 'path' must be a string.")
    if path is not None and not path.strip():
        path = None
    has_value = "value" in fields
    if op != "remove" and not has_value:
        raise InvalidValue(f"Operation {number} ({op}) needs a 'value'.")
    return op, path, fields.get("value"), has_value


class _Patcher:
    """Applies operations one by one to a working copy of the document."""

    def __init__(self, rtype: ResourceType, doc: dict[str, Any]) -> None:
        self.rtype = rtype
        self.doc = doc
        self.budget = PatchBudget()
        self.members = _MemberLedger(self.budget)

    def apply(self, op: str, path: str | None, value: Any, has_value: bool) -> None:
        if path is not None:
            ext = self.rtype.extension(path)
            if ext is not None:
                # A path naming a whole extension schema: its object of attributes, or all of it.
                if op == "remove":
                    self.doc.pop(ext.id, None)
                else:
                    self._apply_key(op, ext.id, value)
                return
            self._apply_path(op, _parse_path(path, self.rtype), value, has_value)
            return
        if op == "remove":
            raise NoTarget("A remove operation needs a 'path' naming what to remove.")
        if not isinstance(value, Mapping):
            raise InvalidValue(f"Without a 'path', the value of {op} must be an object of attributes.")
        for key, item in value.items():
            if isinstance(key, str):
                self._apply_key(op, key, item)

    def _apply_key(self, op: str, key: str, value: Any) -> None:
        """One key of a no-path value: ``attr``, ``attr.sub``, ``urn:…:attr[.sub]`` or ``urn:…`` → object."""
        if key.lower() in _IGNORED_KEYS:
            return
        if key.lower() == self.rtype.schema.id.lower() and isinstance(value, Mapping):
            for sub_key, item in value.items():
                if isinstance(sub_key, str):
                    self._apply_key(op, sub_key, item)
            return
        ext = self.rtype.extension(key)
        if ext is not None:
            if value is None:
                if op == "replace":
                    self.doc.pop(ext.id, None)
                return
            if not isinstance(value, Mapping):
                raise InvalidValue(f"'{ext.id}' must be an object holding that schema's attributes.")
            for sub_key, item in value.items():
                if isinstance(sub_key, str):
                    self._apply_key(op, f"{ext.id}:{sub_key}", item)
            return
        try:
            path = _parse_path(key, self.rtype)
        except InvalidPath:
            if "[" in key:
                raise
            # Unknown attributes are ignored, as in a POST or PUT body (RFC 7644 §3.3).
            log.debug("scim.attribute_ignored", attribute=key, reason="unknown")
            return
        self._apply_path(op, path, value, True)

    def _apply_path(self, op: str, path: PatchPath, value: Any, has_value: bool) -> None:
        ref, flt, sub = path.ref, path.value_filter, path.sub
        attr = ref.attribute
        if flt is not None and not attr.multi_valued:
            raise InvalidPath(f"'{attr.name}' is single-valued, so it takes no value filter.")
        if is_members(self.rtype, attr):
            self._members(op, path, value, has_value)
            return
        for target in (attr, ref.sub, sub):
            if target is not None and target.mutability == "readOnly":
                raise Mutability(f"'{_name(ref, sub)}' is read-only.")
        if any(t is not None and t.mutability == "writeOnly" for t in (attr, ref.sub, sub)):
            # We never keep passwords: accept the operation and store nothing (RFC 7643 §7).
            log.debug("scim.attribute_ignored", attribute=_name(ref, sub), reason="writeOnly")
            return
        container = self._container(ref)
        if flt is not None:
            self._filtered(op, container, ref, flt, sub, value)
        elif ref.sub is not None:
            self._sub(op, container, attr, ref.sub, value, _name(ref, None))
        else:
            self._whole(op, container, attr, value, has_value, ref.dotted)
        self._prune(ref)

    # --- the three shapes of target -------------------------------------------------------------

    def _whole(
        self, op: str, container: dict[str, Any], attr: Attribute, value: Any, has_value: bool, name: str
    ) -> None:
        """``attr``: the attribute as a whole."""
        current = container.get(attr.name)
        if op == "remove":
            if has_value and value is not None and attr.multi_valued and isinstance(current, list):
                # RFC 7644 §3.5.2.2 leaves a valued remove open; Okta and Entra use it on lists.
                wanted = coerce(attr, value, name)
                index = SubsetIndex(attr, wanted if isinstance(wanted, list) else [])
                self.budget.spend(len(current))
                container[attr.name] = [e for e in current if not index.matches(e)]
            else:
                container.pop(attr.name, None)
            return
        coerced = coerce(attr, value, name)
        if coerced is UNSET:
            if op == "replace":
                container.pop(attr.name, None)
            return
        if attr.multi_valued and op == "add" and isinstance(current, list):
            # §3.5.2.1: values already present are not added twice.
            self.budget.spend(len(current) + len(coerced))
            merged = list(current)
            seen = Distinct(attr, merged)
            merged.extend(e for e in coerced if seen.add(e))
            check_values(name, len(merged))
            one_primary(merged, prefer=range(len(current), len(merged)))
            container[attr.name] = merged
        elif attr.is_complex and not attr.multi_valued and isinstance(current, dict) and isinstance(value, Mapping):
            # §3.5.2.1 and §3.5.2.3: sub-attributes not given are left as they are.
            container[attr.name] = {**current, **coerced}
        else:
            container[attr.name] = coerced

    def _sub(self, op: str, container: dict[str, Any], attr: Attribute, sub: Attribute, value: Any, name: str) -> None:
        """``attr.sub`` without a filter: the sub-attribute of a complex value, or of every element."""
        current = container.get(attr.name)
        coerced = UNSET if op == "remove" else coerce(sub, value, name)
        if not attr.multi_valued:
            block = dict(current) if isinstance(current, Mapping) else {}
            if coerced is UNSET:
                block.pop(sub.name, None)
            else:
                block[sub.name] = coerced
            container[attr.name] = block
            return
        elements = [dict(e) for e in current if isinstance(e, Mapping)] if isinstance(current, list) else []
        self.budget.spend(len(elements))
        if not elements and coerced is not UNSET:
            elements.append({})
        for element in elements:
            if coerced is UNSET:
                element.pop(sub.name, None)
            else:
                element[sub.name] = coerced
        container[attr.name] = elements

    def _filtered(
        self, op: str, container: dict[str, Any], ref: AttrRef, flt: Filter, sub: Attribute | None, value: Any
    ) -> None:
        """``attr[filter]`` or ``attr[filter].sub``: the matching elements of a multi-valued attribute."""
        attr = ref.attribute
        current = container.get(attr.name)
        elements = [dict(e) for e in current if isinstance(e, Mapping)] if isinstance(current, list) else []
        self.budget.spend(len(elements) * _conditions(flt))
        matched = [i for i, element in enumerate(elements) if element_matches(flt, element)]
        if op == "remove":
            if sub is None:
                doomed = set(matched)
                elements = [e for i, e in enumerate(elements) if i not in doomed]
            else:
                for i in matched:
                    elements[i].pop(sub.name, None)
            container[attr.name] = elements
            return
        name = f"{ref.dotted}.{sub.name}" if sub is not None else ref.dotted
        if sub is not None:
            coerced = coerce(sub, value, name)
        else:
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            coerced = coerce_element(attr, value, name)
        if not matched:
            seed = _seed(attr, flt)
            if seed is None:
                raise NoTarget(
                    f"No value of '{attr.name}' matches the filter, and the filter cannot describe a new one."
                )
            if coerced is UNSET:
                return
            elements.append(seed)
            check_values(name, len(elements))
            matched = [len(elements) - 1]
        for i in matched:
            if sub is None:
                # §3.5.2.3: the matching values are replaced by the complex value given;
                # sub-attributes it does not mention are left as they are.
                if coerced is not UNSET:
                    elements[i].update(coerced)
            elif coerced is UNSET:
                elements[i].pop(sub.name, None)
            else:
                elements[i][sub.name] = coerced
        one_primary(elements, prefer=matched)
        container[attr.name] = elements

    # --- group membership ---------------------------------------------------------------------

    def _members(self, op: str, path: PatchPath, value: Any, has_value: bool) -> None:
        ref, flt = path.ref, path.value_filter
        attr = ref.attribute
        if ref.sub is not None or path.sub is not None:
            raise InvalidPath("Members are added and removed whole: use 'members' or 'members[value eq \"…\"]'.")
        if op == "remove":
            if flt is not None:
                ids = _member_ids(flt)
                if ids is None:
                    self.members.remove_matching(flt)
                else:
                    self.members.remove(ids)
            elif has_value and value is not None:
                self.members.remove({m.value for m in member_refs(attr, value)})
            else:
                self.members.remove_everyone()
            return
        if flt is not None:
            raise InvalidPath(f"A value filter on 'members' selects members to remove; it cannot {op} them.")
        refs = member_refs(attr, value)
        if op == "replace":
            self.members.remove_everyone()
        self.members.add(refs)

    # --- where things live --------------------------------------------------------------------

    def _container(self, ref: AttrRef) -> dict[str, Any]:
        urn = self._extension_of(ref)
        if urn is None:
            return self.doc
        block = self.doc.get(urn)
        if not isinstance(block, dict):
            block = self.doc[urn] = {}
        return block

    def _prune(self, ref: AttrRef) -> None:
        """Drop an extension block left empty, so ``schemas`` stops listing it."""
        urn = self._extension_of(ref)
        if urn is not None and not self.doc.get(urn):
            self.doc.pop(urn, None)

    def _extension_of(self, ref: AttrRef) -> str | None:
        """The extension URN whose block holds ``ref``; ``None`` for core and common attributes."""
        return ref.schema if ref.schema is not None and ref.schema != self.rtype.schema.id else None


def _parse_path(text: str, rtype: ResourceType) -> PatchPath:
    """A path without a value filter is just an attribute reference: resolve it without the tokenizer."""
    return parse_path(text, rtype) if "[" in text else PatchPath(rtype.resolve(text))


def _name(ref: AttrRef, sub: Attribute | None) -> str:
    return f"{ref.dotted}.{sub.name}" if sub is not None else ref.dotted


def _seed(attr: Attribute, flt: Filter) -> dict[str, Any] | None:
    """The element a filter of ``eq`` terms joined by ``and`` describes: ``type eq "work"`` → ``{"type": "work"}``."""
    terms: dict[str, Any] = {}
    stack = [flt]
    while stack:
        node = stack.pop()
        if isinstance(node, And):
            stack.extend((node.left, node.right))
        elif isinstance(node, Compare) and node.op == "eq" and node.ref.sub is not None and node.value is not None:
            terms[node.ref.sub.name] = node.value
        else:
            return None
    element = coerce_element(attr, terms, attr.name)
    return dict(element) if isinstance(element, Mapping) else None


def _conditions(flt: Filter) -> int:
    """The conditions (comparisons and ``pr`` tests) of a filter: what evaluating it on one element costs."""
    count, stack = 0, [flt]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend((node.left, node.right))
        elif isinstance(node, Not | ValueFilter):
            stack.append(node.inner)
        else:
            count += 1
    return count


def _member_ids(flt: Filter) -> set[str] | None:
    """The ids of ``value eq "…"`` terms joined by ``or``; ``None`` for any other filter."""
    ids: set[str] = set()
    stack = [flt]
    while stack:
        node = stack.pop()
        if isinstance(node, Or):
            stack.extend((node.left, node.right))
        elif (
            isinstance(node, Compare)
            and node.op == "eq"
            and node.ref.sub is not None
            and node.ref.sub.name == "value"
            and isinstance(node.value, str)
        ):
            ids.add(node.value)
        else:
            return None
    return ids


class _MemberLedger:
    """Membership operations folded into one :class:`MemberChanges`, keeping their sequential meaning."""

    def __init__(self, budget: PatchBudget) -> None:
        self._budget = budget
        #: Members named so far by all operations, against MAX_MEMBERS.
        self._named = 0
        self._add: dict[str, MemberRef] = {}
        self._remove: set[str] = set()
        self._remove_all = False
        #: Member filters other than ``value eq``, kept apart so their union stays shallow.
        self._remove_where: list[Filter] = []
        self._where_conditions = 0

    def _name(self, count: int) -> None:
        self._named += count
        if self._named > MAX_MEMBERS:
            raise InvalidValue(
                f"This PATCH names more than {MAX_MEMBERS} members; at most {MAX_MEMBERS} are accepted in one request."
            )

    def add(self, refs: list[MemberRef]) -> None:
        self._name(len(refs))
        for ref in refs:
            self._remove.discard(ref.value)
            self._add[ref.value] = ref

    def remove(self, ids: set[str]) -> None:
        self._name(len(ids))
        for member_id in ids:
            self._add.pop(member_id, None)
        if not self._remove_all:
            self._remove |= ids

    def remove_matching(self, flt: Filter) -> None:
        # Each such filter is tried on every pending add: bounded like a value filter on a list.
        self._budget.spend(len(self._add) * _conditions(flt))
        for member_id, ref in list(self._add.items()):
            element = {k: v for k, v in (("value", ref.value), ("type", ref.type), ("display", ref.display)) if v}
            if element_matches(flt, element):
                del self._add[member_id]
        # Each such filter is evaluated on every member row of the group by the service, so their
        # conditions together are bounded like one filter's.
        self._where_conditions += _conditions(flt)
        if self._where_conditions > MAX_FILTER_CONDITIONS:
            raise InvalidValue(
                f"The member filters of this PATCH hold more than {MAX_FILTER_CONDITIONS} conditions together."
            )
        if not self._remove_all:
            self._remove_where.append(flt)

    def remove_everyone(self) -> None:
        self._add.clear()
        self._remove.clear()
        self._remove_where = []
        self._remove_all = True

    def outcome(self) -> MemberChanges | None:
        if not (self._add or self._remove or self._remove_all or self._remove_where):
            return None
        where = _any_of(self._remove_where) if self._remove_where else None
        return MemberChanges(list(self._add.values()), set(self._remove), self._remove_all, where)


def _any_of(filters: list[Filter]) -> Filter:
    """``f1 or f2 or …`` as a balanced tree: its depth grows with the log of the count, so
    evaluating it never nears Python's recursion limit."""
    if len(filters) == 1:
        return filters[0]
    middle = len(filters) // 2
    return Or(_any_of(filters[:middle]), _any_of(filters[middle:]))


def _clone(data: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON document; orjson's round trip is several times faster than ``copy.deepcopy``."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(data if isinstance(data, dict) else dict(data)))
    return copied
