"""SCIM filters and ``sortBy`` as SQL (RFC 7644 §3.4.2.2, §3.4.2.3), for SQLite and PostgreSQL.

The translation keeps the meaning ``protocol.filter.matches`` gives a filter on the rendered
resource, row for row (``tests/integration/test_filter_property.py`` checks it on both backends):

- Indexed columns answer what they hold (``userName`` and a group's ``displayName`` through their
  lower-cased ``*_norm`` columns); every other attribute is read from the canonical JSON in ``data``.
- A multi-valued attribute matches when some element does: an ``EXISTS`` over ``json_each`` /
  ``jsonb_array_elements``, or over ``scim_group_members`` for a user's ``groups`` and a group's
  ``members``. A value filter puts all its conditions on the same element.
- ``caseExact=false`` strings are compared after Python's ``str.lower()``: on SQLite through the
  ``scim_lower`` function every connection registers (``engine._configure_sqlite``), on PostgreSQL
  through ``lower()`` under the ICU root collation, which folds exactly as Python does. Ordering
  compares code points (``COLLATE "C"`` on PostgreSQL), as Python compares strings.
- ``co``/``sw``/``ew`` are ``LIKE`` (PostgreSQL) or ``GLOB`` (SQLite, whose ``LIKE`` ignores ASCII
  case) with the literal's wildcard characters escaped.
- SQL's unknown (a missing attribute) only ever meets ``NOT`` through ``COALESCE(…, false)``, so
  ``not``/``ne`` match a resource without the attribute, as RFC 7644 requires.
- ``meta.created``/``meta.lastModified`` are rendered to the millisecond, so they are compared as
  the rendered instant is, with range predicates that keep the column's index usable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    String,
    Table,
    TableValuedAlias,
    Text,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.functions import Function

from ..protocol.errors import InvalidFilter
from ..protocol.filter import And, Compare, Filter, Not, Or, Present, ValueFilter, compare_value, parse_datetime
from ..protocol.schema import Attribute, AttrRef
from .tables import GroupMember, ScimGroup, ScimUser, table_of

__all__ = ["SQLITE_LOWER", "filter_clause", "sort_expression"]

#: The name of the Unicode-aware lower-casing function registered on every SQLite connection.
SQLITE_LOWER = "scim_lower"

#: PostgreSQL's ICU root collation: ``lower()`` under it folds exactly like Python's ``str.lower()``.
_PG_FOLD_COLLATION = "und-x-icu"

_MEMBERS = table_of(GroupMember)
_GROUPS = table_of(ScimGroup)
_MS = timedelta(milliseconds=1)

Clause = ColumnElement[bool]


def filter_clause(f: Filter, table: Table, *, dialect: str) -> Clause:
    """The WHERE clause selecting the rows of ``table`` (users or groups) that ``f`` matches.

    The caller adds the organisation condition; this clause never widens a query.
    """
    return _Translator(table, _dialect(dialect)).clause(f, _ResourceScope(table))


def sort_expression(ref: AttrRef, table: Table, *, dialect: str) -> ColumnElement[Any]:
    """The ORDER BY key for ``sortBy`` (RFC 7644 §3.4.2.3).

    Strings sort as they compare in filters (case-folded unless ``caseExact``); a multi-valued
    attribute sorts by its primary element's value, else its first element's.
    """
    sql = _dialect(dialect)
    scope = _ResourceScope(table)
    if ref.attribute.multi_valued and ref.sub is None and ref.attribute.is_complex:
        value = ref.attribute.sub("value")
        if value is None:
            raise InvalidFilter(f"'{ref.dotted}' cannot be used to sort.")
        ref = AttrRef(ref.schema, ref.attribute, value)
    if ref.target.is_complex:
        raise InvalidFilter(f"'{ref.dotted}' is complex and cannot be used to sort.")
    if ref.attribute.multi_valued:
        source = scope.source(ref)
        return source.first_value(sql, ref)
    return sql.sort_key(scope.operand(ref), ref.target)


# -- operands: where a value lives --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Json:
    """A value inside a JSON document: ``doc`` at ``keys`` (no keys: ``doc`` is the value)."""

    doc: ColumnElement[Any]
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Column:
    expr: ColumnElement[Any]
    folded: bool = False  # holds ``str.lower()`` of the value already (the ``*_norm`` columns)


@dataclass(frozen=True, slots=True)
class _Const:
    value: Any


_Operand = _Json | _Column | _Const


# -- dialects -----------------------------------------------------------------------------------


class _Dialect:
    name: str

    def text(self, j: _Json) -> ColumnElement[Any]:
        raise NotImplementedError

    def json_is_object(self, j: _Json) -> Clause:
        raise NotImplementedError

    def json_bool(self, j: _Json, value: bool) -> Clause:
        raise NotImplementedError

    def json_number(self, j: _Json) -> ColumnElement[Any]:
        raise NotImplementedError

    def fold(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        raise NotImplementedError

    def ordered(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return expr

    def substring(self, expr: ColumnElement[Any], op: str, value: str) -> Clause:
        raise NotImplementedError

    def elements(self, j: _Json, simple: bool) -> TableValuedAlias:
        """A table-valued FROM of the array at ``j``: column ``value`` (and ``idx``)."""
        raise NotImplementedError

    def element_index(self, source: TableValuedAlias) -> ColumnElement[Any]:
        """An element's position in its array, for "the first element"."""
        raise NotImplementedError

    def sort_key(self, operand: _Operand, target: Attribute) -> ColumnElement[Any]:
        if isinstance(operand, _Const):
            return literal(operand.value)
        if isinstance(operand, _Column):
            expr = operand.expr
            if target.type == "string" and not target.case_exact and not operand.folded:
                expr = self.fold(expr)
            return self.ordered(expr) if target.type in ("string", "reference") else expr
        if target.type == "boolean":
            return self.json_bool(operand, True)
        if target.type in ("integer", "decimal"):
            return self.json_number(operand)
        text = self.text(operand)
        return self.ordered(text if target.case_exact else self.fold(text))


class _SQLite(_Dialect):
    name = "sqlite"

    @staticmethod
    def _path(keys: tuple[str, ...]) -> str:
        return "$" + "".join(f'."{k}"' for k in keys)

    def text(self, j: _Json) -> ColumnElement[Any]:
        return func.json_extract(j.doc, self._path(j.keys)) if j.keys else j.doc

    def json_is_object(self, j: _Json) -> Clause:
        return func.json_type(j.doc, self._path(j.keys)) == "object"

    def json_bool(self, j: _Json, value: bool) -> Clause:
        return func.json_type(j.doc, self._path(j.keys)) == ("true" if value else "false")

    def json_number(self, j: _Json) -> ColumnElement[Any]:
        return self.text(j)

    def fold(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return Function(SQLITE_LOWER, expr)

    def substring(self, expr: ColumnElement[Any], op: str, value: str) -> Clause:
        # GLOB, not LIKE: SQLite's LIKE folds ASCII case, which would break caseExact attributes.
        escaped = "".join(f"[{c}]" if c in "*?[" else c for c in value)
        pattern = {"co": f"*{escaped}*", "sw": f"{escaped}*", "ew": f"*{escaped}"}[op]
        return expr.op("GLOB", is_comparison=True)(pattern)

    def elements(self, j: _Json, simple: bool) -> TableValuedAlias:
        # ``value`` is the element's SQL value: text for a string, JSON text for an object.
        return func.json_each(j.doc, self._path(j.keys)).table_valued(column("value", String), column("key"), name="el")

    def element_index(self, source: TableValuedAlias) -> ColumnElement[Any]:
        return source.c.key


class _Postgres(_Dialect):
    name = "postgresql"

    @staticmethod
    def _node(j: _Json) -> Any:
        # ``data`` is declared as generic JSON with a JSONB variant; JSONB's operators need the JSONB type.
        doc = type_coerce(j.doc, JSONB)
        return doc[j.keys[0]] if len(j.keys) == 1 else doc[j.keys]

    def text(self, j: _Json) -> ColumnElement[Any]:
        return j.doc if not j.keys else self._node(j).astext

    def json_is_object(self, j: _Json) -> Clause:
        return func.jsonb_typeof(self._node(j)) == "object"

    def json_bool(self, j: _Json, value: bool) -> Clause:
        return and_(func.jsonb_typeof(self._node(j)) == "boolean", self.text(j) == ("true" if value else "false"))

    def json_number(self, j: _Json) -> ColumnElement[Any]:
        return case((func.jsonb_typeof(self._node(j)) == "number", cast(self.text(j), Numeric)), else_=None)

    def fold(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.lower(expr.collate(_PG_FOLD_COLLATION))

    def ordered(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return expr.collate("C")

    def substring(self, expr: ColumnElement[Any], op: str, value: str) -> Clause:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = {"co": f"%{escaped}%", "sw": f"{escaped}%", "ew": f"%{escaped}"}[op]
        return expr.like(pattern, escape="\\")

    def elements(self, j: _Json, simple: bool) -> TableValuedAlias:
        array = self._node(j)
        fn, kind = (func.jsonb_array_elements_text, Text) if simple else (func.jsonb_array_elements, JSONB)
        return fn(array).table_valued(column("value", kind), with_ordinality="idx").render_derived(name="el")

    def element_index(self, source: TableValuedAlias) -> ColumnElement[Any]:
        return source.c.idx


def _dialect(name: str) -> _Dialect:
    if name == "sqlite":
        return _SQLite()
    if name in ("postgresql", "postgres"):
        return _Postgres()
    raise ValueError(f"unsupported dialect: {name}")


# -- scopes: resolving attribute references -------------------------------------------------------


class _Source:
    """The elements of a multi-valued attribute, as a FROM to put under ``EXISTS``."""

    def exists(self, sql: _Dialect, where: Callable[[_ElementScope], Clause | None]) -> Clause:
        raise NotImplementedError

    def first_value(self, sql: _Dialect, ref: AttrRef) -> ColumnElement[Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _JsonArray(_Source):
    array: _Json
    attribute: Attribute

    def exists(self, sql: _Dialect, where: Callable[[_ElementScope], Clause | None]) -> Clause:
        source = sql.elements(self.array, simple=not self.attribute.is_complex)
        condition = where(_JsonElementScope(source.c.value))
        query = select(literal(1)).select_from(source)
        return (query if condition is None else query.where(condition)).exists()

    def first_value(self, sql: _Dialect, ref: AttrRef) -> ColumnElement[Any]:
        source = sql.elements(self.array, simple=not self.attribute.is_complex)
        scope = _JsonElementScope(source.c.value)
        key = sql.sort_key(scope.operand(ref), ref.target)
        primary_sub = self.attribute.sub("primary")
        order: list[ColumnElement[Any]] = []
        if primary_sub is not None and primary_sub.type == "boolean":
            is_primary = scope.operand(AttrRef(ref.schema, ref.attribute, primary_sub))
            assert isinstance(is_primary, _Json)
            order.append(func.coalesce(sql.json_bool(is_primary, True), false()).desc())
        order.append(sql.element_index(source))
        return select(key).select_from(source).order_by(*order).limit(1).scalar_subquery()


@dataclass(frozen=True, slots=True)
class _Membership(_Source):
    """A user's ``groups`` or a group's ``members``: rows of ``scim_group_members``."""

    table: Table
    of_user: bool

    def _query(self, columns: list[ColumnElement[Any]]) -> Select[Any]:
        m = _MEMBERS
        if self.of_user:
            g = _GROUPS
            return (
                select(*columns)
                .select_from(m.join(g, g.c.id == m.c.group_id))
                .where(m.c.member_id == self.table.c.id, m.c.org_id == self.table.c.org_id)
            )
        return select(*columns).select_from(m).where(m.c.group_id == self.table.c.id)

    def _scope(self) -> _MemberScope:
        return _MemberScope(self.of_user)

    def exists(self, sql: _Dialect, where: Callable[[_ElementScope], Clause | None]) -> Clause:
        query = self._query([literal(1)])
        condition = where(self._scope())
        return (query if condition is None else query.where(condition)).exists()

    def first_value(self, sql: _Dialect, ref: AttrRef) -> ColumnElement[Any]:
        key = sql.sort_key(self._scope().operand(ref), ref.target)
        return self._query([func.min(key)]).scalar_subquery()


class _ElementScope:
    """Sub-attributes of one element of a complex attribute."""

    def operand(self, ref: AttrRef) -> _Operand:
        raise NotImplementedError

    def guard(self) -> Clause | None:
        """What must hold for there to be an element at all (a singular complex attribute)."""
        return None


@dataclass(frozen=True, slots=True)
class _JsonElementScope(_ElementScope):
    value: ColumnElement[Any]

    def operand(self, ref: AttrRef) -> _Operand:
        return _Json(self.value, () if ref.sub is None else (ref.sub.name,))


@dataclass(frozen=True, slots=True)
class _JsonObjectScope(_ElementScope):
    """A singular complex attribute (``name[givenName eq "x"]``) seen as its one element."""

    object: _Json
    sql: _Dialect

    def operand(self, ref: AttrRef) -> _Operand:
        assert ref.sub is not None
        return _Json(self.object.doc, (*self.object.keys, ref.sub.name))

    def guard(self) -> Clause | None:
        return self.sql.json_is_object(self.object)


@dataclass(frozen=True, slots=True)
class _MemberScope(_ElementScope):
    of_user: bool

    def operand(self, ref: AttrRef) -> _Operand:
        m, name = _MEMBERS, ref.sub.name if ref.sub is not None else "value"
        if self.of_user:
            columns: Mapping[str, _Column] = {
                "value": _Column(m.c.group_id),
                "display": _Column(_GROUPS.c.display_name_norm, folded=True),
            }
        else:
            columns = {
                "value": _Column(m.c.member_id),
                "type": _Column(m.c.member_type),
                "display": _Column(m.c.display),
            }
        if name not in columns:
            raise InvalidFilter(f"Filtering on '{ref.dotted}' is not supported.")
        return columns[name]


class _ResourceScope:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.is_users = table.name == ScimUser.__tablename__
        self.resource_type = "User" if self.is_users else "Group"

    def json(self, ref: AttrRef) -> _Json:
        keys: tuple[str, ...] = (ref.attribute.name,)
        if ref.is_extension:
            assert ref.schema is not None
            keys = (ref.schema, *keys)
        return _Json(self.table.c.data, keys)

    def source(self, ref: AttrRef) -> _Source:
        name = ref.attribute.name
        if ref.schema is not None and not ref.is_extension:
            if self.is_users and name == "groups":
                return _Membership(self.table, of_user=True)
            if not self.is_users and name == "members":
                return _Membership(self.table, of_user=False)
        return _JsonArray(self.json(ref), ref.attribute)

    def operand(self, ref: AttrRef) -> _Operand:
        """The single value a singular attribute (or a sub-attribute of one) names."""
        c = self.table.c
        name = ref.attribute.name
        if ref.schema is None:  # common attributes: id, externalId, meta
            if name == "id":
                return _Column(c.id)
            if name == "externalId":
                return _Column(c.external_id)
            sub = ref.sub.name if ref.sub is not None else None
            if sub == "created":
                return _Column(c.created)
            if sub == "lastModified":
                return _Column(c.last_modified)
            if sub == "resourceType":
                return _Const(self.resource_type)
            raise InvalidFilter(f"Filtering on '{ref.dotted}' is not supported.")
        if not ref.is_extension and ref.sub is None:
            if self.is_users and name == "userName":
                return _Column(c.user_name_norm, folded=True)
            if not self.is_users and name == "displayName":
                return _Column(c.display_name_norm, folded=True)
        j = self.json(ref)
        return j if ref.sub is None else _Json(j.doc, (*j.keys, ref.sub.name))


# -- the translation ----------------------------------------------------------------------------


def _known(clause: Clause) -> Clause:
    """``clause`` with SQL's unknown read as false, so that negating it is the filter's ``not``."""
    return func.coalesce(clause, false())


class _Translator:
    def __init__(self, table: Table, sql: _Dialect) -> None:
        self.table = table
        self.sql = sql

    def clause(self, f: Filter, scope: _ResourceScope | _ElementScope) -> Clause:
        match f:
            case And(left, right):
                return and_(self.clause(left, scope), self.clause(right, scope))
            case Or(left, right):
                return or_(self.clause(left, scope), self.clause(right, scope))
            case Not(inner):
                return not_(_known(self.clause(inner, scope)))
            case Present(ref):
                return self.present(ref, scope)
            case Compare(ref, op, value):
                if value is None:
                    present = self.present(ref, scope)
                    return present if op == "ne" else not_(_known(present))
                if op == "ne":
                    return not_(_known(self.compare(ref, "eq", value, scope)))
                return self.compare(ref, op, value, scope)
            case ValueFilter(ref, inner):
                return self.value_filter(ref, inner, scope)
        raise TypeError(f"not a filter: {f!r}")

    def value_filter(self, ref: AttrRef, inner: Filter, scope: _ResourceScope | _ElementScope) -> Clause:
        if not isinstance(scope, _ResourceScope):
            raise InvalidFilter("A value filter cannot be nested inside another.")
        if ref.attribute.multi_valued:
            return scope.source(ref).exists(self.sql, lambda element: self.clause(inner, element))
        element = _JsonObjectScope(scope.json(ref), self.sql)
        guard = element.guard()
        assert guard is not None
        return and_(guard, self.clause(inner, element))

    def present(self, ref: AttrRef, scope: _ResourceScope | _ElementScope) -> Clause:
        target = ref.target
        if target.is_complex and not target.multi_valued:
            if ref.schema is None:  # meta: always rendered, with its constant resourceType
                return true()
            subs = [AttrRef(ref.schema, ref.attribute, s) for s in target.sub_attributes.values()]
            return or_(*(self.present(sub, scope) for sub in subs))
        if isinstance(scope, _ResourceScope) and ref.attribute.multi_valued:
            if target.is_complex:
                return scope.source(ref).exists(self.sql, lambda _element: None)
            return scope.source(ref).exists(self.sql, lambda element: self.present_value(element.operand(ref)))
        operand = scope.operand(ref)
        return self.present_value(operand)

    def present_value(self, operand: _Operand) -> Clause:
        if isinstance(operand, _Const):
            return true() if operand.value not in (None, "") else false()
        if isinstance(operand, _Column):
            expr = operand.expr
            if isinstance(expr.type, String):
                return and_(expr.isnot(None), expr != "")
            return expr.isnot(None)
        text = self.sql.text(operand)
        return and_(text.isnot(None), text != "")

    def compare(self, ref: AttrRef, op: str, value: Any, scope: _ResourceScope | _ElementScope) -> Clause:
        if isinstance(scope, _ResourceScope) and ref.attribute.multi_valued:
            return scope.source(ref).exists(
                self.sql, lambda element: self.compare_operand(element.operand(ref), ref.target, op, value)
            )
        return self.compare_operand(scope.operand(ref), ref.target, op, value)

    def compare_operand(self, operand: _Operand, target: Attribute, op: str, value: Any) -> Clause:
        if isinstance(operand, _Const):
            return true() if compare_value(target, op, operand.value, value) else false()
        kind = target.type
        if kind in ("string", "reference", "binary"):
            return self.compare_string(operand, target, op, value)
        if kind == "boolean":
            if isinstance(operand, _Column):
                return _ordered(operand.expr, "eq", value)
            return self.sql.json_bool(operand, bool(value))
        if kind in ("integer", "decimal"):
            expr = operand.expr if isinstance(operand, _Column) else self.sql.json_number(operand)
            return _ordered(expr, op, value)
        if kind == "dateTime" and isinstance(operand, _Column):
            return _instant(operand, op, value)
        raise InvalidFilter(f"Comparing a {kind} attribute with '{op}' is not supported.")

    def compare_string(self, operand: _Json | _Column, target: Attribute, op: str, value: str) -> Clause:
        expr = operand.expr if isinstance(operand, _Column) else self.sql.text(operand)
        if not target.case_exact:
            value = value.lower()
            if not (isinstance(operand, _Column) and operand.folded):
                expr = self.sql.fold(expr)
        if op in ("co", "sw", "ew"):
            return self.sql.substring(expr, op, value)
        if op == "eq":
            return expr == value
        return _ordered(self.sql.ordered(expr), op, value)


def _ordered(expr: ColumnElement[Any], op: str, value: object) -> Clause:
    match op:
        case "eq":
            return expr == value
        case "gt":
            return expr > value
        case "ge":
            return expr >= value
        case "lt":
            return expr < value
        case "le":
            return expr <= value
    raise InvalidFilter(f"Operator '{op}' is not supported here.")


def _instant(operand: _Column, op: str, value: str) -> Clause:
    """Compare a timestamp column as its millisecond rendering compares with ``value``.

    With ``r`` the rendering (the column floored to the millisecond) and ``v`` the literal:
    ``r >= v`` iff ``col >= ceil_ms(v)``; ``r > v`` iff ``col >= floor_ms(v) + 1ms``; and so on.
    """
    moment = parse_datetime(value)
    if moment is None:
        raise InvalidFilter(f"{value!r} is not an RFC 3339 timestamp.")
    moment = moment.astimezone(UTC)
    floor = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    ceil = floor if floor == moment else floor + _MS
    col = operand.expr
    match op:
        case "eq":
            return and_(col >= floor, col < floor + _MS) if floor == moment else false()
        case "gt":
            return col >= floor + _MS
        case "ge":
            return col >= ceil
        case "lt":
            return col < ceil
        case "le":
            return col < floor + _MS
    raise InvalidFilter(f"Operator '{op}' is not supported for timestamps.")
