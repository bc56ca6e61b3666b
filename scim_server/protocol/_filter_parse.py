"""Parsing filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2) against a resource type.

A recursive-descent parser over a small tokenizer. Every attribute is resolved against the
schema while parsing, and every comparison is checked against the attribute's type, so a filter
that parses is one the evaluator and the SQL translator can both carry out exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ._filter_ast import COMPARE_OPS, And, Compare, Filter, Literal, Not, Or, PatchPath, Present, ValueFilter
from .errors import InvalidFilter, InvalidPath
from .limits import MAX_FILTER_CONDITIONS
from .schema import Attribute, AttrRef, ResourceType

__all__ = ["SCHEMAS_ATTRIBUTE", "parse_datetime", "parse_filter", "parse_path"]

_TOKEN = re.compile(
    r"""
    \s*(?:
        (?P<punct>[()\[\]])
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.$])
      | (?P<word>[A-Za-z_$][\w$:.\-]*)
      | (?P<sub>\.[A-Za-z_$][\w$\-]*)
    )""",
    re.VERBOSE,
)

#: Bounds that keep parsing, evaluation and SQL compilation far from Python's recursion limit.
_MAX_DEPTH = 64
_MAX_CONDITIONS = MAX_FILTER_CONDITIONS

_ORDERING_OPS = frozenset({"gt", "ge", "lt", "le"})
_SUBSTRING_OPS = frozenset({"co", "sw", "ew"})
_STRING_TYPES = frozenset({"string", "reference"})
_NUMBER_TYPES = frozenset({"integer", "decimal"})

#: Operators each attribute type supports (RFC 7644 §3.4.2.2: gt/ge/lt/le are undefined for
#: booleans and binary; a complex attribute can only be tested with ``pr`` or a value filter).
_OPS_BY_TYPE: dict[str, frozenset[str]] = {
    "string": COMPARE_OPS,
    "reference": COMPARE_OPS,
    "binary": frozenset({"eq", "ne"}),
    "boolean": frozenset({"eq", "ne"}),
    "integer": frozenset({"eq", "ne"}) | _ORDERING_OPS,
    "decimal": frozenset({"eq", "ne"}) | _ORDERING_OPS,
    "dateTime": frozenset({"eq", "ne"}) | _ORDERING_OPS,
    "complex": frozenset(),
}

#: Attributes whose value is derived when a resource is rendered (a URL, an ETag) or is never
#: returned: the database cannot answer a filter on them, so we refuse it rather than guess.
_UNFILTERABLE = frozenset({"meta.location", "meta.version", "groups.type"})

#: ``schemas`` is in every resource but in no schema; RFC 7644 §3.4.2.2 filters on it.
SCHEMAS_ATTRIBUTE = Attribute("schemas", "reference", multi_valued=True, mutability="readOnly", returned="always")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # punct string number word sub end
    text: str
    pos: int


def _tokenize(text: str, error: type[InvalidFilter] | type[InvalidPath]) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            at = len(text) - len(text[pos:].lstrip())
            raise error(f"Unexpected character {text[at]!r} at position {at + 1} of the filter.")
        kind = m.lastgroup
        tokens.append(_Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def parse_datetime(text: str) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime (naive means UTC), or ``None`` if it is not one."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


class _Parser:
    def __init__(self, text: str, rtype: ResourceType, error: type[InvalidFilter] | type[InvalidPath]) -> None:
        self.text = text
        self.rtype = rtype
        self.error = error
        self.tokens = _tokenize(text, error)
        self.i = 0
        self.depth = 0
        self.conditions = 0

    # -- token helpers ------------------------------------------------------------------------

    @property
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        tok = self.peek
        return tok.kind == "word" and tok.text.lower() in words

    def expect_punct(self, char: str, context: str) -> None:
        tok = self.peek
        if tok.kind != "punct" or tok.text != char:
            raise self.fail(f"Expected '{char}' {context}", tok)
        self.i += 1

    def fail(self, message: str, tok: _Token) -> InvalidFilter | InvalidPath:
        found = "the end of the filter" if tok.kind == "end" else repr(tok.text)
        return self.error(f"{message} at position {tok.pos + 1}, found {found}.")

    # -- grammar ------------------------------------------------------------------------------

    def filter(self, element: AttrRef | None = None) -> Filter:
        """``or`` binds loosest, then ``and``, then ``not`` (RFC 7644 §3.4.2.2, Table 5)."""
        node = self.conjunction(element)
        while self.at_keyword("or"):
            self.i += 1
            node = Or(node, self.conjunction(element))
        return node

    def conjunction(self, element: AttrRef | None) -> Filter:
        node = self.unary(element)
        while self.at_keyword("and"):
            self.i += 1
            node = And(node, self.unary(element))
        return node

    def unary(self, element: AttrRef | None) -> Filter:
        tok = self.peek
        if tok.kind == "word" and tok.text.lower() == "not":
            self.i += 1
            return Not(self.nested(tok, lambda: self.unary(element)))
        if tok.kind == "punct" and tok.text == "(":
            self.i += 1
            node = self.nested(tok, lambda: self.filter(element))
            self.expect_punct(")", "to close the parenthesis")
            return node
        if tok.kind != "word":
            raise self.fail("Expected an attribute name, 'not' or '('", tok)
        self.i += 1
        ref = self.attribute(tok, element)
        if self.peek.kind == "punct" and self.peek.text == "[":
            return self.value_filter(tok, ref, element)
        return self.attribute_expression(tok, ref)

    def nested(self, tok: _Token, parse: Callable[[], Filter]) -> Filter:
        # Bound the recursion: a hostile "((((…" must be a 400, not a RecursionError.
        if self.depth >= _MAX_DEPTH:
            raise self.fail(f"The filter nests deeper than {_MAX_DEPTH} levels", tok)
        self.depth += 1
        try:
            return parse()
        finally:
            self.depth -= 1

    def value_filter(self, name: _Token, ref: AttrRef, element: AttrRef | None) -> ValueFilter:
        bracket = self.advance()
        if element is not None:
            raise self.fail("A value filter cannot be nested inside another", bracket)
        if not ref.target.is_complex or ref.sub is not None:
            raise self.fail(f"'{name.text}' is not a complex attribute, so it takes no value filter", bracket)
        inner = self.filter(ref)
        self.expect_punct("]", f"to close the value filter on '{name.text}'")
        if self.peek.kind == "sub" and self.error is InvalidFilter:
            # Not in the RFC's grammar, but Microsoft Entra ID sends it and documents that a server
            # must accept it: 'emails[type eq "work"].value eq "x"'. It means the same element
            # satisfies both conditions: 'emails[type eq "work" and value eq "x"]'.
            sub_tok = self.advance()
            sub_name = _Token("word", sub_tok.text[1:], sub_tok.pos + 1)
            condition = self.attribute_expression(sub_name, self.attribute(sub_name, ref))
            inner = And(inner, condition)
        return ValueFilter(ref, inner)

    def attribute_expression(self, name: _Token, ref: AttrRef) -> Filter:
        self.conditions += 1
        if self.conditions > _MAX_CONDITIONS:
            raise self.fail(f"The filter has more than {_MAX_CONDITIONS} conditions", name)
        op_tok = self.peek
        if op_tok.kind != "word":
            raise self.fail(f"Expected an operator after '{name.text}'", op_tok)
        op = op_tok.text.lower()
        self.i += 1
        if op == "pr":
            return Present(ref)
        if op not in COMPARE_OPS:
            raise self.fail(f"Unknown operator '{op_tok.text}'", op_tok)
        value = self.literal()
        return self.comparison(name, ref, op, value)

    def literal(self) -> Literal:
        tok = self.advance()
        if tok.kind == "string":
            try:
                value = json.loads(tok.text)
            except ValueError:
                raise self.fail("Invalid escape in string literal", tok) from None
            assert isinstance(value, str)
            return value
        if tok.kind == "number":
            number = json.loads(tok.text)
            assert isinstance(number, int | float)
            return number
        if tok.kind == "word":
            word = tok.text.lower()
            if word in ("true", "false"):
                return word == "true"
            if word == "null":
                return None
        raise self.fail("Expected a value (a quoted string, a number, true, false or null)", tok)

    # -- attributes ---------------------------------------------------------------------------

    def attribute(self, tok: _Token, element: AttrRef | None) -> AttrRef:
        if element is not None:
            # Inside brackets, names are sub-attributes of the bracketed complex attribute.
            sub = element.attribute.sub(tok.text) if "." not in tok.text else None
            if sub is None:
                raise self.fail(f"'{tok.text}' is not a sub-attribute of '{element.attribute.name}'", tok)
            ref = AttrRef(element.schema, element.attribute, sub)
        elif tok.text.lower() == "schemas":
            ref = AttrRef(None, SCHEMAS_ATTRIBUTE)
        else:
            try:
                ref = self.rtype.resolve(tok.text)
            except InvalidPath:
                raise self.fail(f"'{tok.text}' is not an attribute of {self.rtype.name}", tok) from None
        if ref.target.returned == "never" or _filter_name(ref) in _UNFILTERABLE or ref.target.name == "$ref":
            raise self.fail(f"Filtering on '{ref.dotted}' is not supported", tok)
        return ref

    def comparison(self, name: _Token, ref: AttrRef, op: str, value: Literal) -> Compare:
        target = ref.target
        if target.is_complex and target.multi_valued and ref.sub is None and target.sub("value") is not None:
            # RFC 7644 §3.4.2.2: a bare multi-valued attribute is compared through its "value".
            value_attr = target.sub("value")
            assert value_attr is not None
            ref = AttrRef(ref.schema, ref.attribute, value_attr)
            target = value_attr
        if target.is_complex:
            raise self.error(f"'{name.text}' is a complex attribute: use 'pr', a sub-attribute or a value filter.")
        where = f"'{name.text}' ({target.type})"
        if op not in _OPS_BY_TYPE.get(target.type, frozenset()):
            raise self.error(f"Operator '{op}' is not defined for {where}.")
        if value is None:
            if op not in ("eq", "ne"):
                raise self.error(f"Operator '{op}' cannot compare {where} with null.")
        elif not _literal_fits(target, value):
            raise self.error(f"{where} cannot be compared with {json.dumps(value)}.")
        return Compare(ref, op, value)


def _literal_fits(target: Attribute, value: str | int | float | bool) -> bool:
    if target.type in _STRING_TYPES or target.type == "binary":
        return isinstance(value, str)
    if target.type == "boolean":
        return isinstance(value, bool)
    if target.type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if target.type == "decimal":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if target.type == "dateTime":
        return isinstance(value, str) and parse_datetime(value) is not None
    return False


def _filter_name(ref: AttrRef) -> str:
    return ref.attribute.name if ref.sub is None else f"{ref.attribute.name}.{ref.sub.name}"


def parse_filter(text: str, rtype: ResourceType) -> Filter:
    """Parse a ``filter`` (RFC 7644 §3.4.2.2) for ``rtype``; raise :class:`InvalidFilter` if it is not one."""
    parser = _Parser(text, rtype, InvalidFilter)
    if parser.peek.kind == "end":
        raise InvalidFilter("The filter is empty.")
    node = parser.filter()
    if parser.peek.kind != "end":
        raise parser.fail("Expected 'and', 'or' or the end of the filter", parser.peek)
    return node


def parse_path(text: str, rtype: ResourceType) -> PatchPath:
    """Parse a PATCH ``path`` (RFC 7644 §3.5.2); raise :class:`InvalidPath` if it is not one.

    ``attrPath`` or ``valuePath ["." subAttr]``: ``name.givenName``, ``members[value eq "2819c223"]``,
    ``emails[type eq "work"].value``, ``urn:…:enterprise:2.0:User:manager``.
    """
    parser = _Parser(text, rtype, InvalidPath)
    tok = parser.advance()
    if tok.kind != "word":
        raise parser.fail("Expected an attribute path", tok)
    ref = rtype.resolve(tok.text)
    value_filter: Filter | None = None
    sub: Attribute | None = None
    if parser.peek.kind == "punct" and parser.peek.text == "[":
        value_filter = parser.value_filter(tok, ref, None).inner
        if parser.peek.kind == "sub":
            sub_tok = parser.advance()
            sub = ref.attribute.sub(sub_tok.text[1:])
            if sub is None:
                raise parser.fail(f"'{sub_tok.text[1:]}' is not a sub-attribute of '{ref.attribute.name}'", sub_tok)
    if parser.peek.kind != "end":
        raise parser.fail("Unexpected text after the path", parser.peek)
    return PatchPath(ref, value_filter, sub)
