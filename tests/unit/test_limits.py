"""Issue #19's request limits (``protocol.limits``) and the linear duplicate checks, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scim_server.protocol import errors, limits
from scim_server.protocol._coerce import Distinct, SubsetIndex, matches_subset, same_element
from scim_server.protocol._document import member_refs
from scim_server.protocol.filter import element_matches
from scim_server.protocol.patch import apply_patch
from scim_server.protocol.schema import Attribute, group_type, user_type
from scim_server.protocol.validate import normalise


def test_too_many_members_in_one_request_is_invalid_value() -> None:
    attr = group_type().schema.get("members")
    assert attr is not None
    with pytest.raises(errors.InvalidValue, match=str(limits.MAX_MEMBERS)):
        member_refs(attr, [{"value": f"u{i}"} for i in range(limits.MAX_MEMBERS + 1)])
    assert len(member_refs(attr, [{"value": f"u{i}"} for i in range(limits.MAX_MEMBERS)])) == limits.MAX_MEMBERS


def test_members_of_all_patch_operations_count_together() -> None:
    half = limits.MAX_MEMBERS // 2 + 1
    body = {
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": f"a{i}"} for i in range(half)]},
            {"op": "add", "path": "members", "value": [{"value": f"b{i}"} for i in range(half)]},
        ]
    }
    with pytest.raises(errors.InvalidValue, match="members"):
        apply_patch(group_type(), {"displayName": "G"}, body)


def test_value_filters_over_a_long_list_are_bounded() -> None:
    data = normalise(
        user_type(), {"userName": "u", "emails": [{"value": f"e{i}@x", "type": "work"} for i in range(1000)]}
    ).data
    op = {"op": "replace", "path": 'emails[type eq "work"].display', "value": "d"}
    within = limits.MAX_PATCH_WORK // 1000
    assert len(apply_patch(user_type(), data, {"Operations": [op] * within}).data["emails"]) == 1000
    with pytest.raises(errors.InvalidValue, match="several requests"):
        apply_patch(user_type(), data, {"Operations": [op] * (within + 1)})


def test_member_filters_of_one_patch_are_bounded_together() -> None:
    def chain(n: int) -> str:
        return "members[" + " or ".join(f'display eq "d{i}"' for i in range(n)) + "]"

    ok = {"Operations": [{"op": "remove", "path": chain(limits.MAX_FILTER_CONDITIONS // 2)}] * 2}
    assert apply_patch(group_type(), {"displayName": "G"}, ok).members is not None
    too_many = {"Operations": [{"op": "remove", "path": chain(limits.MAX_FILTER_CONDITIONS // 2)}] * 3}
    with pytest.raises(errors.InvalidValue, match="conditions"):
        apply_patch(group_type(), {"displayName": "G"}, too_many)


def test_many_member_filters_evaluate_without_deep_recursion() -> None:
    # One `display eq` filter per operation: their union is balanced, never 1,000 levels deep.
    body = {
        "Operations": [
            {"op": "remove", "path": f'members[display eq "d{i}"]'} for i in range(limits.MAX_FILTER_CONDITIONS)
        ]
    }
    changes = apply_patch(group_type(), {"displayName": "G"}, body).members
    assert changes is not None and changes.remove_where is not None
    assert element_matches(changes.remove_where, {"value": "x", "display": f"d{limits.MAX_FILTER_CONDITIONS - 1}"})


# --- the linear duplicate check agrees with the pairwise definition -------------------------------

_SUBS = [
    Attribute("value", "string"),
    Attribute("type", "string", case_exact=True),
    Attribute("primary", "boolean"),
    Attribute("weight", "decimal"),
]
_COMPLEX = Attribute("things", "complex", multi_valued=True, sub_attributes={a.name: a for a in _SUBS})
_CASELESS = Attribute("tags", "string", multi_valued=True)
_EXACT = Attribute("codes", "string", multi_valued=True, case_exact=True)

_text = st.sampled_from(["a", "A", "b", "ß", "SS", "ss", "é", "É", ""])
_scalar = st.one_of(_text, st.integers(-1, 1), st.sampled_from([True, False, 1.0, 0.0]))
_element = st.dictionaries(
    st.sampled_from(["value", "type", "primary", "weight"]),
    st.one_of(_scalar, st.lists(_text, max_size=2)),
    max_size=4,
)


def _pairwise_distinct(attr: Attribute, values: list[Any]) -> list[Any]:
    """The definition the quadratic check used: keep an element unless an earlier kept one equals it."""
    out: list[Any] = []
    for v in values:
        if not any(same_element(attr, v, seen) for seen in out):
            out.append(v)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_element, _scalar), max_size=8))
def test_distinct_agrees_with_pairwise_same_element_on_complex_values(values: list[Any]) -> None:
    seen = Distinct(_COMPLEX)
    assert [v for v in values if seen.add(v)] == _pairwise_distinct(_COMPLEX, values)


@settings(max_examples=300, deadline=None)
@given(st.lists(_scalar, max_size=8), st.sampled_from([_CASELESS, _EXACT]))
def test_distinct_agrees_with_pairwise_same_element_on_simple_values(values: list[Any], attr: Attribute) -> None:
    seen = Distinct(attr)
    assert [v for v in values if seen.add(v)] == _pairwise_distinct(attr, values)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_element, _scalar), max_size=6), st.lists(st.one_of(_element, _scalar), max_size=4))
def test_subset_index_agrees_with_matches_subset(elements: list[Any], wanted: list[Any]) -> None:
    index = SubsetIndex(_COMPLEX, wanted)
    for e in elements:
        assert index.matches(e) == any(matches_subset(_COMPLEX, e, w) for w in wanted)


@settings(max_examples=200, deadline=None)
@given(st.lists(_scalar, max_size=6), st.lists(_scalar, max_size=4), st.sampled_from([_CASELESS, _EXACT]))
def test_subset_index_agrees_with_matches_subset_on_simple_values(
    elements: list[Any], wanted: list[Any], attr: Attribute
) -> None:
    index = SubsetIndex(attr, wanted)
    for e in elements:
        assert index.matches(e) == any(matches_subset(attr, e, w) for w in wanted)
