"""SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2, §3.10).

``parse_filter`` turns a filter into a tree of :data:`Filter` nodes whose attribute references are
resolved against the resource type's schema; ``matches`` evaluates such a tree on a resource as
GET returns it, and ``storage.filter_sql`` translates the same tree to SQL with the same meaning.
``parse_path`` and ``element_matches`` serve PATCH.
"""

from __future__ import annotations

from ._filter_ast import COMPARE_OPS, And, Compare, Filter, Literal, Not, Or, PatchPath, Present, ValueFilter
from ._filter_eval import compare_value, element_matches, is_present, matches
from ._filter_parse import parse_datetime, parse_filter, parse_path

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
    "compare_value",
    "element_matches",
    "is_present",
    "matches",
    "parse_datetime",
    "parse_filter",
    "parse_path",
]
