"""Filter and PATCH-path parsing (RFC 7644 §3.4.2.2, §3.5.2) and in-memory evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from scim_server.protocol.errors import InvalidFilter, InvalidPath
from scim_server.protocol.filter import (
    And,
    Compare,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValueFilter,
    element_matches,
    matches,
    parse_filter,
    parse_path,
)
from scim_server.protocol.schema import ENTERPRISE_USER_SCHEMA, USER_SCHEMA, group_type, user_type

USER = user_type()
GROUP = group_type()


def show(f: Filter) -> str:
    """A compact, fully parenthesised rendering that makes the tree's shape visible."""
    match f:
        case Compare(ref, op, value):
            return f"{ref.dotted} {op} {value!r}"
        case Present(ref):
            return f"{ref.dotted} pr"
        case And(left, right):
            return f"({show(left)} and {show(right)})"
        case Or(left, right):
            return f"({show(left)} or {show(right)})"
        case Not(inner):
            return f"not {show(inner)}"
        case ValueFilter(ref, inner):
            return f"{ref.dotted}[{show(inner)}]"
    raise AssertionError(f)


# RFC 7644 §3.4.2.2, "Example filters" (the list after Figure 2), named by their line.
RFC_7644_3_4_2_2_EXAMPLES = {
    "userName Eq john": ('userName Eq "john"', "userName eq 'john'"),
    "Username eq john": ('Username eq "john"', "userName eq 'john'"),
    "userName eq bjensen": ('userName eq "bjensen"', "userName eq 'bjensen'"),
    "name.familyName co O'Malley": ('name.familyName co "O\'Malley"', 'name.familyName co "O\'Malley"'),
    "userName sw J": ('userName sw "J"', "userName sw 'J'"),
    "urn:...:User:userName sw J": (
        'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
        "userName sw 'J'",
    ),
    "title pr": ("title pr", "title pr"),
    "meta.lastModified gt": (
        'meta.lastModified gt "2011-05-13T04:42:34Z"',
        "meta.lastModified gt '2011-05-13T04:42:34Z'",
    ),
    "meta.lastModified ge": (
        'meta.lastModified ge "2011-05-13T04:42:34Z"',
        "meta.lastModified ge '2011-05-13T04:42:34Z'",
    ),
    "meta.lastModified lt": (
        'meta.lastModified lt "2011-05-13T04:42:34Z"',
        "meta.lastModified lt '2011-05-13T04:42:34Z'",
    ),
    "meta.lastModified le": (
        'meta.lastModified le "2011-05-13T04:42:34Z"',
        "meta.lastModified le '2011-05-13T04:42:34Z'",
    ),
    "title pr and userType eq Employee": (
        'title pr and userType eq "Employee"',
        "(title pr and userType eq 'Employee')",
    ),
    "title pr or userType eq Intern": ('title pr or userType eq "Intern"', "(title pr or userType eq 'Intern')"),
    "schemas eq enterprise": (
        'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
        "schemas eq 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'",
    ),
    "userType eq Employee and (emails co or emails.value co)": (
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
        "(userType eq 'Employee' and (emails.value co 'example.com' or emails.value co 'example.org'))",
    ),
    "userType ne Employee and not (...)": (
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        "(userType ne 'Employee' and not (emails.value co 'example.com' or emails.value co 'example.org'))",
    ),
    "userType eq Employee and (emails.type eq work)": (
        'userType eq "Employee" and (emails.type eq "work")',
        "(userType eq 'Employee' and emails.type eq 'work')",
    ),
    "userType eq Employee and emails[...]": (
        'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
        "(userType eq 'Employee' and emails[(emails.type eq 'work' and emails.value co '@example.com')])",
    ),
    "emails[...] or ims[...]": (
        'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
        "(emails[(emails.type eq 'work' and emails.value co '@example.com')]"
        " or ims[(ims.type eq 'xmpp' and ims.value co '@foo.com')])",
    ),
}


@pytest.mark.parametrize(("text", "expected"), RFC_7644_3_4_2_2_EXAMPLES.values(), ids=RFC_7644_3_4_2_2_EXAMPLES)
def test_rfc_7644_example_filters_parse(text: str, expected: str) -> None:
    assert show(parse_filter(text, USER)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # not > and > or (RFC 7644 Table 5)
        ("title pr or userType pr and nickName pr", "(title pr or (userType pr and nickName pr))"),
        ("title pr and userType pr or nickName pr", "((title pr and userType pr) or nickName pr)"),
        ("not (title pr) and nickName pr", "(not title pr and nickName pr)"),
        ("not (title pr or nickName pr)", "not (title pr or nickName pr)"),
        ("(title pr or userType pr) and nickName pr", "((title pr or userType pr) and nickName pr)"),
        ("title pr or userType pr or nickName pr", "((title pr or userType pr) or nickName pr)"),
        ("title pr AND userType pr OR NOT (nickName pr)", "((title pr and userType pr) or not nickName pr)"),
        (
            'emails[type eq "work" and (value sw "a" or not (primary eq true))]',
            "emails[(emails.type eq 'work' and (emails.value sw 'a' or not emails.primary eq True))]",
        ),
    ],
)
def test_precedence_and_grouping(text: str, expected: str) -> None:
    assert show(parse_filter(text, USER)) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'userName eq "a\"b"', 'a"b'),
        (r'userName eq "tab\there"', "tab\there"),
        (r'userName eq "caf\u00e9"', "café"),
        (r'userName eq "back\\slash"', "back\\slash"),
        ('userName eq "100%_sure"', "100%_sure"),
        ("active eq false", False),
        ("active eq True", True),
        ("title eq null", None),
    ],
)
def test_literals(text: str, value: Any) -> None:
    node = parse_filter(text, USER)
    assert isinstance(node, Compare) and node.value == value and type(node.value) is type(value)


def test_entra_value_path_with_sub_attribute_is_accepted_as_a_filter() -> None:
    """idp-fixtures/entra/02-provision-user.json, lookup-by-work-email: outside the RFC grammar,
    but Entra documents that servers must accept it. Both conditions hold on one element."""
    node = parse_filter('emails[type eq "work"].value eq "Jane@Example.com"', USER)
    assert show(node) == "emails[(emails.type eq 'work' and emails.value eq 'Jane@Example.com')]"
    jane = {"emails": [{"type": "home", "value": "jane@example.com"}, {"type": "work", "value": "j@x"}]}
    assert not matches(node, jane)
    jane["emails"][1]["value"] = "JANE@example.com"
    assert matches(node, jane)


def test_extension_and_common_attributes_resolve_to_their_schema() -> None:
    node = parse_filter(f'{ENTERPRISE_USER_SCHEMA}:manager.value eq "26118915" and externalId eq "x"', USER)
    assert isinstance(node, And) and isinstance(node.left, Compare) and isinstance(node.right, Compare)
    assert node.left.ref.schema == ENTERPRISE_USER_SCHEMA
    assert (node.left.ref.attribute.name, node.left.ref.sub and node.left.ref.sub.name) == ("manager", "value")
    assert node.right.ref.schema is None and node.right.ref.attribute.name == "externalId"
    group = parse_filter('displayName eq "Admins" and members[type eq "User"]', GROUP)
    assert show(group) == "(displayName eq 'Admins' and members[members.type eq 'User'])"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "empty"),
        ("userName", "Expected an operator after 'userName'"),
        ("userName eq", "Expected a value"),
        ('userName xx "a"', "Unknown operator 'xx'"),
        ('nosuch eq "a"', "'nosuch' is not an attribute of User"),
        ('name.nosuch eq "a"', "'name.nosuch' is not an attribute of User"),
        ('urn:example:nope:attr eq "a"', "is not an attribute of User"),
        ("(title pr", "Expected ')'"),
        ("title pr)", "Expected 'and', 'or' or the end"),
        ("title pr title pr", "Expected 'and', 'or' or the end"),
        ('emails[type eq "work"', "Expected ']'"),
        ('emails[type eq "work"].nosuch eq "a@x"', "'nosuch' is not a sub-attribute of 'emails'"),
        ('emails[type eq "work"].value', "Expected an operator after 'value'"),
        ('emails[emails.type eq "work"]', "'emails.type' is not a sub-attribute of 'emails'"),
        ('emails[type eq "a"] and name[givenName pr and x[y pr]]', "'x' is not a sub-attribute of 'name'"),
        ('userName[value eq "a"]', "is not a complex attribute"),
        ("active gt true", "Operator 'gt' is not defined for 'active' (boolean)"),
        ('active eq "true"', "'active' (boolean) cannot be compared with \"true\""),
        ("userName eq 42", "'userName' (string) cannot be compared with 42"),
        ('name eq "Barbara"', "'name' is a complex attribute"),
        ('addresses eq "x"', "'addresses' is a complex attribute"),
        ('meta.created co "2011"', "Operator 'co' is not defined for 'meta.created' (dateTime)"),
        ('meta.created gt "last week"', 'cannot be compared with "last week"'),
        ("title gt null", "Operator 'gt' cannot compare"),
        ('password eq "hunter2"', "Filtering on 'password' is not supported"),
        ('meta.location eq "https://x/Users/1"', "Filtering on 'meta.location' is not supported"),
        (r'userName eq "bad \q escape"', "Invalid escape"),
        ('userName eq "unterminated', "Unexpected character"),
        ("userName eq 'single'", "Unexpected character"),
        ("userName eq 12abc", "Unexpected character"),
        ("not", "Expected an attribute name"),
        ('userName eq "a" and', "Expected an attribute name"),
    ],
)
def test_bad_filters_are_invalid_filter_with_a_useful_detail(text: str, detail: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text, USER)
    assert detail in caught.value.detail
    assert caught.value.to_dict()["scimType"] == "invalidFilter"


@pytest.mark.parametrize("text", ["(" * 5000 + "title pr" + ")" * 5000, "not " * 5000 + "(title pr)"])
def test_hostile_nesting_is_refused_not_a_crash(text: str) -> None:
    with pytest.raises(InvalidFilter, match="nests deeper than"):
        parse_filter(text, USER)


def test_long_filters_are_bounded() -> None:
    within = " or ".join(f'id eq "{i}"' for i in range(300))
    assert isinstance(parse_filter(within, USER), Or)
    with pytest.raises(InvalidFilter, match="more than 300 conditions"):
        parse_filter(within + ' or id eq "one too many"', USER)


def test_group_filters_know_group_attributes_only() -> None:
    with pytest.raises(InvalidFilter, match="'userName' is not an attribute of Group"):
        parse_filter('userName eq "x"', GROUP)


# -- PATCH paths (RFC 7644 §3.5.2) ----------------------------------------------------------------


def test_path_simple_and_sub_attribute() -> None:
    path = parse_path("name.givenName", USER)
    assert path.ref.attribute.name == "name" and path.ref.sub is not None and path.ref.sub.name == "givenName"
    assert path.value_filter is None and path.sub is None
    assert parse_path("userName", USER) == PatchPath(USER.resolve("userName"))


def test_path_value_filter_with_sub_attribute() -> None:
    path = parse_path('emails[type eq "work"].value', USER)
    assert path.ref == USER.resolve("emails")
    assert path.sub is not None and path.sub.name == "value"
    assert path.value_filter is not None and show(path.value_filter) == "emails.type eq 'work'"


def test_path_value_filter_rfc_7644_3_5_2_3_members() -> None:
    path = parse_path('members[value eq "2819c223-7f76-453a-919d-413861904646"]', GROUP)
    assert path.ref == GROUP.resolve("members") and path.sub is None
    assert path.value_filter is not None
    assert element_matches(path.value_filter, {"value": "2819c223-7f76-453a-919d-413861904646"})
    assert not element_matches(path.value_filter, {"value": "2819C223-7F76-453A-919D-413861904646"})


def test_path_extension_urn() -> None:
    path = parse_path(f"{ENTERPRISE_USER_SCHEMA}:manager", USER)
    assert path.ref.schema == ENTERPRISE_USER_SCHEMA and path.ref.attribute.name == "manager"
    assert parse_path(f"{ENTERPRISE_USER_SCHEMA}:manager.value", USER).ref.sub is not None
    assert parse_path(f"{USER_SCHEMA}:name.familyName", USER).ref.schema == USER_SCHEMA


@pytest.mark.parametrize(
    "text",
    [
        "nosuch",
        "name.nosuch",
        'emails[type eq "work"].nosuch',
        'emails[type eq "work"',
        'emails[nosuch eq "work"]',
        'emails[type eq "work"] extra',
        'emails.value[type eq "work"]',
        "userName eq",
        '"userName"',
        ENTERPRISE_USER_SCHEMA,
    ],
)
def test_bad_paths_are_invalid_path(text: str) -> None:
    with pytest.raises(InvalidPath):
        parse_path(text, USER)


# -- evaluation on GET-shaped resources ------------------------------------------------------------

BJENSEN: dict[str, Any] = {
    "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "bjensen",
    "userName": "BJensen@Example.com",
    "name": {"familyName": "O'Malley", "givenName": "Barbara"},
    "title": "",
    "userType": "Employee",
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    ENTERPRISE_USER_SCHEMA: {"employeeNumber": "701984", "manager": {"value": "26118915"}},
    "groups": [{"value": "e9e30dba", "display": "Tour Guides"}],
    "meta": {
        "resourceType": "User",
        "created": "2010-01-23T04:56:22.000Z",
        "lastModified": "2011-05-13T04:42:34.000Z",
    },
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "bjensen@example.com"', True),  # caseExact=false
        ('userName eq "bjensen"', False),
        ('id eq "2819C223-7F76-453A-919D-413861904646"', False),  # id is caseExact
        ('externalId eq "BJENSEN"', False),
        ('externalId eq "bjensen"', True),
        ('name.familyName co "malley"', True),
        ('userName sw "BJ" and userName ew ".COM"', True),
        ("title pr", False),  # empty string is not present
        ("nickName pr", False),
        ("name pr", True),
        ("emails pr", True),
        ('title ne "x"', True),
        ('nickName ne "x"', True),  # absent attribute matches ne
        ("nickName eq null", True),
        ("userType ne null", True),
        ('emails co "jensen.org"', True),  # any element, through emails.value
        ('emails.type eq "work"', True),
        ('emails.value eq "BABS@JENSEN.ORG"', True),
        ('emails[type eq "work" and value co "jensen.org"]', False),  # same element must satisfy both
        ('emails[type eq "home" and value co "jensen.org"]', True),
        ("emails[primary eq true]", True),
        ('emails[not (type eq "work")]', True),
        ('emails.type ne "work"', False),  # ne is not eq: some element is "work"
        ('userType eq "Employee" and not (emails co "example.com" or emails.value co "example.org")', False),
        (f'{ENTERPRISE_USER_SCHEMA}:employeeNumber eq "701984"', True),
        (f'{ENTERPRISE_USER_SCHEMA}:manager.value eq "26118915"', True),
        (f"{ENTERPRISE_USER_SCHEMA}:department pr", False),
        (f'schemas eq "{ENTERPRISE_USER_SCHEMA}"', True),
        ('groups eq "e9e30dba"', True),
        ('groups.display sw "tour"', True),
        ('meta.lastModified gt "2011-05-13T04:42:33Z"', True),
        ('meta.lastModified gt "2011-05-13T06:42:33+02:00"', True),  # compared as instants
        ('meta.lastModified lt "2011-05-13T06:42:35+02:00"', True),
        ('meta.lastModified ge "2011-05-13T04:42:34Z"', True),
        ('meta.created lt "2010-01-23T04:56:22.001Z"', True),
        ('meta.resourceType eq "User"', True),
        ("active eq true and not (active eq false)", True),
        ('userName gt "bj" and userName lt "bk"', True),  # lexicographic, case-folded
    ],
)
def test_matches_on_a_get_shaped_resource(text: str, expected: bool) -> None:
    assert matches(parse_filter(text, USER), BJENSEN) is expected


def test_matches_non_ascii_case_insensitively() -> None:
    user = {"userName": "ÉLODIE@exämple.com", "name": {"givenName": "Øyvind"}}
    assert matches(parse_filter('userName eq "élodie@EXÄMPLE.COM"', USER), user)
    assert matches(parse_filter('name.givenName sw "øy"', USER), user)
    assert not matches(parse_filter('externalId eq "x"', USER), user)


def test_element_matches_evaluates_one_element() -> None:
    inner = parse_path('emails[type eq "work" and primary eq true]', USER).value_filter
    assert inner is not None
    assert element_matches(inner, {"type": "WORK", "primary": True, "value": "a@x"})
    assert not element_matches(inner, {"type": "work", "value": "a@x"})
    assert not element_matches(inner, {})
