"""Incoming resources → canonical ``data`` (RFC 7643 §2, RFC 7644 §3.3, §3.5.1)."""

from __future__ import annotations

from typing import Any

import pytest

from scim_server.protocol.errors import InvalidSyntax, InvalidValue, Mutability, ScimError
from scim_server.protocol.schema import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
    Attribute,
    ResourceType,
    SchemaDef,
    group_type,
    user_type,
)
from scim_server.protocol.validate import MemberRef, changed_attributes, check_immutable, normalise

ENT = ENTERPRISE_USER_SCHEMA


def user(body: dict[str, Any]) -> dict[str, Any]:
    return normalise(user_type(), {"userName": "bjensen", **body}).data


def fails(exc: type[ScimError], rtype: ResourceType, body: Any) -> ScimError:
    with pytest.raises(exc) as info:
        normalise(rtype, body)
    assert info.value.scim_type == exc.scim_type
    return info.value


# --- RFC 7644 §3.3: the RFC's own create examples ----------------------------------------------


def test_rfc7644_3_3_create_user_example() -> None:
    body = {
        "schemas": [USER_SCHEMA],
        "userName": "bjensen",
        "externalId": "bjensen",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
    }
    result = normalise(user_type(), body)
    assert result.data == body
    assert result.members is None


def test_rfc7643_8_2_full_enterprise_user_keeps_every_writable_value() -> None:
    body = {
        "schemas": [USER_SCHEMA, ENT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "primary": True,
            }
        ],
        "active": True,
        "password": "t1meMa$heen",
        "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
        ENT: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "manager": {
                "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
                "displayName": "John Smith",
            },
        },
        "meta": {"resourceType": "User", "version": 'W/"3694e05e9dff591"'},
    }
    data = normalise(user_type(), body).data
    assert data["schemas"] == [USER_SCHEMA, ENT]
    assert "id" not in data and "meta" not in data
    assert "password" not in data and "groups" not in data
    assert data["emails"] == body["emails"]
    assert data["addresses"][0]["locality"] == "Hollywood"
    assert data[ENT]["manager"] == {
        "value": "26118915-6090-4610-87e4-49d8ca9f808d",
        "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
    }
    assert data[ENT]["costCenter"] == "4130"


# --- shape and names ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [[], "user", 42, None])
def test_body_that_is_not_an_object_is_invalid_syntax(body: Any) -> None:
    fails(InvalidSyntax, user_type(), body)


def test_keys_match_case_insensitively_and_come_back_in_schema_spelling() -> None:
    data = normalise(
        user_type(),
        {
            "USERNAME": "bjensen",
            "Name": {"GIVENNAME": "Barbara"},
            "nickname": "Babs",
            "EMAILS": [{"VALUE": "b@example.com", "Type": "work"}],
        },
    ).data
    assert data == {
        "schemas": [USER_SCHEMA],
        "userName": "bjensen",
        "name": {"givenName": "Barbara"},
        "nickName": "Babs",
        "emails": [{"value": "b@example.com", "type": "work"}],
    }


def test_output_order_follows_the_schema_not_the_client() -> None:
    data = user(
        {
            ENT: {"department": "R&D"},
            "title": "Tour Guide",
            "externalId": "x",
            "name": {"givenName": "B", "familyName": "J"},
        }
    )
    assert list(data) == ["schemas", "externalId", "userName", "name", "title", ENT]
    assert list(data["name"]) == ["familyName", "givenName"]


def test_extension_nested_under_its_urn_and_flattened_key_merge() -> None:
    data = user({ENT: {"department": "R&D"}, f"{ENT}:employeeNumber": "701984", f"{ENT.upper()}:manager.value": "boss"})
    assert data[ENT] == {"employeeNumber": "701984", "department": "R&D", "manager": {"value": "boss"}}
    assert data["schemas"] == [USER_SCHEMA, ENT]


def test_flattened_core_urn_key_is_accepted() -> None:
    data = normalise(user_type(), {f"{USER_SCHEMA}:userName": "bjensen", "schemas": [USER_SCHEMA]}).data
    assert data["userName"] == "bjensen"


def test_schemas_lists_only_extensions_that_carry_data() -> None:
    data = normalise(user_type(), {"schemas": [USER_SCHEMA, ENT], "userName": "bjensen", ENT: {}}).data
    assert data["schemas"] == [USER_SCHEMA]


def test_body_without_the_core_schema_is_accepted() -> None:
    assert normalise(user_type(), {"userName": "bjensen"}).data["schemas"] == [USER_SCHEMA]
    assert normalise(user_type(), {"schemas": [ENT], "userName": "b"}).data["schemas"] == [USER_SCHEMA]


@pytest.mark.parametrize("schemas", ["urn:ietf:params:scim:schemas:core:2.0:User", [1], {"a": 1}, [None]])
def test_schemas_that_is_not_a_list_of_strings_is_invalid_syntax(schemas: Any) -> None:
    fails(InvalidSyntax, user_type(), {"schemas": schemas, "userName": "bjensen"})


def test_unknown_schema_listed_with_data_is_invalid_value() -> None:
    custom = "urn:example:params:scim:schemas:extension:acme:2.0:User"
    err = fails(InvalidValue, user_type(), {"schemas": [USER_SCHEMA, custom], "userName": "b", custom: {"x": 1}})
    assert custom in err.detail
    fails(InvalidValue, user_type(), {"schemas": [USER_SCHEMA, custom], "userName": "b", f"{custom}:x": 1})


def test_unknown_schema_data_not_listed_and_unknown_attributes_are_ignored() -> None:
    custom = "urn:example:params:scim:schemas:extension:acme:2.0:User"
    data = user({custom: {"badge": "7"}, "favouriteColour": "blue", "name": {"nickname": "x", "givenName": "B"}})
    assert data == {"schemas": [USER_SCHEMA], "userName": "bjensen", "name": {"givenName": "B"}}


def test_enterprise_extension_on_a_group_is_not_supported() -> None:
    fails(InvalidValue, group_type(), {"schemas": [GROUP_SCHEMA, ENT], "displayName": "G", ENT: {"department": "x"}})


def test_extension_value_that_is_not_an_object_is_invalid_value() -> None:
    err = fails(InvalidValue, user_type(), {"userName": "b", ENT: "R&D"})
    assert ENT in err.detail


# --- dropped, never stored ----------------------------------------------------------------------


def test_server_owned_read_only_and_write_only_attributes_are_dropped() -> None:
    data = user(
        {
            "id": "abc",
            "meta": {"version": "1"},
            "password": "hunter2",
            "PASSWORD": "x",
            "groups": [{"value": "g1"}],
            ENT: {"manager": {"value": "m", "displayName": "Boss"}},
        }
    )
    assert data == {"schemas": [USER_SCHEMA, ENT], "userName": "bjensen", ENT: {"manager": {"value": "m"}}}


@pytest.mark.parametrize("empty", [None, [], {}])
def test_null_and_empty_mean_unassigned(empty: Any) -> None:
    data = user({"title": None, "emails": empty, "name": empty, ENT: {"manager": empty, "department": None}})
    assert data == {"schemas": [USER_SCHEMA], "userName": "bjensen"}


def test_null_elements_and_null_sub_attributes_are_dropped() -> None:
    data = user(
        {"emails": [None, {"value": "a@example.com", "type": None}], "name": {"givenName": None, "familyName": "J"}}
    )
    assert data["emails"] == [{"value": "a@example.com"}]
    assert data["name"] == {"familyName": "J"}


# --- types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"title": 7}, "title"),
        ({"displayName": ["a"]}, "displayName"),
        ({"name": "Barbara"}, "name"),
        ({"name": {"givenName": 1}}, "name.givenName"),
        ({"active": "yes"}, "active"),
        ({"active": 1}, "active"),
        ({"emails": [{"value": "a@b", "primary": "maybe"}]}, "emails.primary"),
        ({"emails": ["a@b", 5]}, "emails"),
        ({"profileUrl": 5}, "profileUrl"),
        ({"x509Certificates": [{"value": False}]}, "x509Certificates.value"),
        ({ENT: {"department": 5}}, f"{ENT}:department"),
        ({f"{ENT}:manager": {"value": 5}}, f"{ENT}:manager.value"),
    ],
)
def test_wrong_type_is_invalid_value_naming_the_attribute(body: dict[str, Any], named: str) -> None:
    err = fails(InvalidValue, user_type(), {"userName": "bjensen", **body})
    assert f"'{named}" in err.detail


@pytest.mark.parametrize(
    ("given", "stored"),
    [(True, True), (False, False), ("True", True), ("False", False), ("TRUE", True), ("false", False)],
)
def test_booleans_accept_json_booleans_and_entra_strings(given: Any, stored: bool) -> None:
    assert user({"active": given})["active"] is stored
    assert user({"emails": [{"value": "a@b", "primary": given}]})["emails"][0]["primary"] is stored


def test_string_booleans_are_coerced_only_for_boolean_attributes() -> None:
    assert user({"title": "True"})["title"] == "True"
    assert user({"emails": [{"value": "false"}]})["emails"] == [{"value": "false"}]


def test_bare_scalar_for_complex_attribute_with_value_becomes_value() -> None:
    # Entra sends the manager as a bare id.
    data = user({ENT: {"manager": "26118915-6090-4610-87e4-49d8ca9f808d"}})
    assert data[ENT]["manager"] == {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
    assert user({"emails": "b@example.com"})["emails"] == [{"value": "b@example.com"}]


def test_single_object_for_multi_valued_attribute_is_one_element_list() -> None:
    assert user({"emails": {"value": "b@example.com", "type": "work"}})["emails"] == [
        {"value": "b@example.com", "type": "work"}
    ]


@pytest.mark.parametrize("when", ["2026-11-22T02:00:00Z", "2026-11-22T02:00:00.123+02:00", "2026-11-22T02:00:00"])
def test_rfc3339_datetimes_are_accepted(when: str) -> None:
    rtype = _custom_type(Attribute("hired", "dateTime"))
    assert normalise(rtype, {"hired": when}).data["hired"] == when


@pytest.mark.parametrize("when", ["2026-11-22", "22/11/2026", "2026-13-01T00:00:00Z", "soon", 1700000000])
def test_other_datetimes_are_invalid_value(when: Any) -> None:
    err = fails(InvalidValue, _custom_type(Attribute("hired", "dateTime")), {"hired": when})
    assert "'hired'" in err.detail


def test_integers_and_decimals() -> None:
    rtype = _custom_type(Attribute("floor", "integer"), Attribute("height", "decimal"))
    assert normalise(rtype, {"floor": 3, "height": 1.5}).data == {
        "schemas": ["urn:test:Thing"],
        "floor": 3,
        "height": 1.5,
    }
    assert normalise(rtype, {"height": 2}).data["height"] == 2
    for bad in ({"floor": 1.5}, {"floor": "3"}, {"floor": True}, {"height": "1.5"}, {"height": False}):
        fails(InvalidValue, rtype, bad)


# --- required, primary, duplicates -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [{}, {"userName": None}, {"userName": ""}, {"userName": "   "}, {"name": {"givenName": "x"}}]
)
def test_user_needs_a_non_empty_user_name(body: dict[str, Any]) -> None:
    err = fails(InvalidValue, user_type(), body)
    assert "userName" in err.detail


@pytest.mark.parametrize("body", [{}, {"displayName": ""}, {"members": []}])
def test_group_needs_a_non_empty_display_name(body: dict[str, Any]) -> None:
    err = fails(InvalidValue, group_type(), body)
    assert "displayName" in err.detail


def test_at_most_one_primary_keeps_the_first() -> None:
    data = user(
        {
            "emails": [
                {"value": "a@x", "primary": True},
                {"value": "b@x", "primary": "true"},
                {"value": "c@x", "primary": True},
            ]
        }
    )
    assert [e.get("primary") for e in data["emails"]] == [True, False, False]


def test_identical_elements_collapse() -> None:
    data = user({"emails": [{"value": "a@x", "type": "work"}, {"type": "work", "value": "A@X"}, {"value": "b@x"}]})
    assert data["emails"] == [{"value": "a@x", "type": "work"}, {"value": "b@x"}]


# --- group members --------------------------------------------------------------------------------


def test_rfc7643_8_4_group_members_are_returned_not_stored() -> None:
    body = {
        "schemas": [GROUP_SCHEMA],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {
                "value": "2819c223-7f76-453a-919d-413861904646",
                "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
                "display": "Babs Jensen",
            },
            {
                "value": "902c246b-6245-4190-8e05-00816be7344a",
                "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a",
                "display": "Mandy Pepperidge",
            },
        ],
    }
    result = normalise(group_type(), body)
    assert result.data == {"schemas": [GROUP_SCHEMA], "displayName": "Tour Guides"}
    assert result.members == [
        MemberRef("2819c223-7f76-453a-919d-413861904646", None, "Babs Jensen"),
        MemberRef("902c246b-6245-4190-8e05-00816be7344a", None, "Mandy Pepperidge"),
    ]


def test_group_without_members_key_keeps_members_none() -> None:
    # Okta renames a group with a PUT that has no members: the service must keep them.
    assert normalise(group_type(), {"displayName": "Renamed"}).members is None


@pytest.mark.parametrize("empty", [[], None])
def test_group_with_empty_members_means_no_members(empty: Any) -> None:
    assert normalise(group_type(), {"displayName": "G", "members": empty}).members == []


def test_members_type_canonical_duplicates_and_ref_ignored() -> None:
    result = normalise(
        group_type(),
        {
            "displayName": "G",
            "MEMBERS": [
                {"value": "u1", "type": "user", "$ref": None},
                {"value": "g1", "type": "GROUP", "$ref": 17},
                {"value": "u1", "display": "again"},
            ],
        },
    )
    assert result.members == [MemberRef("u1", "User"), MemberRef("g1", "Group")]


@pytest.mark.parametrize("members", [[{"display": "no id"}], [{}], [{"value": ""}], [{"value": 5}], [{"value": None}]])
def test_member_without_value_is_invalid_value(members: Any) -> None:
    err = fails(InvalidValue, group_type(), {"displayName": "G", "members": members})
    assert "members[0]" in err.detail


def test_member_of_unknown_type_is_invalid_value() -> None:
    fails(InvalidValue, group_type(), {"displayName": "G", "members": [{"value": "d1", "type": "Device"}]})


def test_members_on_a_user_is_an_unknown_attribute() -> None:
    assert normalise(user_type(), {"userName": "b", "members": [{"value": "x"}]}).members is None


# --- PUT: immutability ------------------------------------------------------------------------------


def _custom_type(*attributes: Attribute) -> ResourceType:
    schema = SchemaDef("urn:test:Thing", "Thing", "", {a.name.lower(): a for a in attributes})
    return ResourceType("Thing", "/Things", "", schema)


def test_check_immutable_refuses_changing_or_clearing_a_set_value() -> None:
    rtype = _custom_type(Attribute("serial", "string", mutability="immutable"), Attribute("label", "string"))
    check_immutable(rtype, {}, {"serial": "A1"})  # first assignment is allowed
    check_immutable(rtype, {"serial": "A1"}, {"serial": "A1", "label": "new"})
    with pytest.raises(Mutability) as info:
        check_immutable(rtype, {"serial": "A1"}, {"serial": "B2"})
    assert info.value.scim_type == "mutability" and "serial" in info.value.detail
    with pytest.raises(Mutability):
        check_immutable(rtype, {"serial": "A1"}, {})


def test_check_immutable_sub_attribute_of_a_complex_attribute() -> None:
    badge = Attribute(
        "badge",
        "complex",
        sub_attributes={
            "number": Attribute("number", "string", mutability="immutable"),
            "colour": Attribute("colour", "string"),
        },
    )
    rtype = _custom_type(badge)
    check_immutable(rtype, {"badge": {"number": "7"}}, {"badge": {"number": "7", "colour": "red"}})
    with pytest.raises(Mutability, match=r"badge\.number"):
        check_immutable(rtype, {"badge": {"number": "7"}}, {"badge": {"number": "8"}})


def test_check_immutable_passes_for_users_whose_attributes_are_all_mutable() -> None:
    check_immutable(user_type(), user({"title": "a"}), normalise(user_type(), {"userName": "other"}).data)


# --- changed attribute names (audit metadata) -------------------------------------------------------


def test_changed_attributes_names_sub_attributes_lists_and_extensions() -> None:
    old = user(
        {
            "active": True,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "title": "Guide",
            "emails": [{"value": "a@x"}],
            ENT: {"department": "Tours", "manager": "m1"},
        }
    )
    new = user(
        {
            "active": False,
            "name": {"givenName": "Babs", "familyName": "Jensen"},
            "emails": [{"value": "b@x"}],
            ENT: {"department": "R&D", "manager": "m1"},
            "externalId": "e",
        }
    )
    assert changed_attributes(user_type(), old, new) == [
        "active",
        "emails",
        "externalId",
        "name.givenName",
        "title",
        f"{ENT}:department",
    ]
    assert changed_attributes(user_type(), old, old) == []


def test_changed_attributes_never_contains_values() -> None:
    old = user({"title": "secret-title"})
    new = user({"title": "other-secret"})
    assert changed_attributes(user_type(), old, new) == ["title"]


def test_changed_attributes_for_whole_extension_added_or_removed() -> None:
    old = user({})
    new = user({ENT: {"manager": "m", "costCenter": "1"}})
    assert changed_attributes(user_type(), old, new) == [f"{ENT}:costCenter", f"{ENT}:manager.value"]
    assert changed_attributes(user_type(), new, old) == [f"{ENT}:costCenter", f"{ENT}:manager.value"]
