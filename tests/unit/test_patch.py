"""The PATCH engine (RFC 7644 §3.5.2) with the RFC's examples and Okta's and Entra's real bodies."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scim_server.protocol.errors import InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget, ScimError
from scim_server.protocol.filter import Compare, Or, element_matches
from scim_server.protocol.patch import PATCH_OP_SCHEMA, MemberChanges, PatchOutcome, apply_patch
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
from scim_server.protocol.validate import MemberRef, normalise

ENT = ENTERPRISE_USER_SCHEMA
BJENSEN = "2819c223-7f76-453a-919d-413861904646"
MANDY = "902c246b-6245-4190-8e05-00816be7344a"


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_SCHEMA], "Operations": list(operations)}


def patch_user(data: dict[str, Any], *operations: dict[str, Any]) -> PatchOutcome:
    return apply_patch(user_type(), data, patch_body(*operations))


def patch_group(*operations: dict[str, Any], data: dict[str, Any] | None = None) -> PatchOutcome:
    return apply_patch(group_type(), data or GROUP, patch_body(*operations))


def fails(exc: type[ScimError], rtype: ResourceType, data: dict[str, Any], body: Any) -> ScimError:
    before = copy.deepcopy(data)
    with pytest.raises(exc) as info:
        apply_patch(rtype, data, body)
    assert info.value.scim_type == exc.scim_type
    assert data == before, "a failed PATCH must leave the document untouched"
    return info.value


def user(body: dict[str, Any]) -> dict[str, Any]:
    return normalise(user_type(), {"userName": "bjensen", **body}).data


BABS = user(
    {
        "externalId": "701984",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
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
        "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
        "title": "Tour Guide",
        "active": True,
        ENT: {"employeeNumber": "701984", "department": "Tour Operations"},
    }
)
GROUP = {"schemas": [GROUP_SCHEMA], "displayName": "Tour Guides"}


# --- RFC 7644 §3.5.2.1 add ------------------------------------------------------------------------


def test_rfc7644_3_5_2_1_add_member_to_group() -> None:
    out = patch_group(
        {
            "op": "add",
            "path": "members",
            "value": [{"display": "Babs Jensen", "$ref": f"https://example.com/v2/Users/{BJENSEN}", "value": BJENSEN}],
        }
    )
    assert out.members == MemberChanges(add=[MemberRef(BJENSEN, None, "Babs Jensen")], remove=set())
    assert out.data == GROUP
    assert out.changed == ["members"]


def test_rfc7644_3_5_2_1_add_without_path() -> None:
    out = patch_user(
        BABS,
        {
            "op": "add",
            "value": {
                "emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@example.org", "type": "other"}],
                "nickname": "Babs",
            },
        },
    )
    assert out.data["nickName"] == "Babs"
    # The home address already exists: §3.5.2.1 adds only what is not there.
    assert [e["value"] for e in out.data["emails"]] == ["bjensen@example.com", "babs@jensen.org", "b@example.org"]
    assert out.changed == ["emails", "nickName"]


def test_rfc7644_3_5_2_1_add_existing_value_changes_nothing() -> None:
    out = patch_user(
        BABS,
        {"op": "add", "path": "emails", "value": [{"value": "BJENSEN@example.com", "type": "work", "primary": True}]},
    )
    assert out.data == BABS and out.changed == [] and out.members is None


def test_rfc7644_3_5_2_1_add_to_single_valued_replaces() -> None:
    out = patch_user(BABS, {"op": "add", "path": "title", "value": "Chief Guide"})
    assert out.data["title"] == "Chief Guide" and out.changed == ["title"]


def test_rfc7644_3_5_2_1_add_complex_merges_sub_attributes() -> None:
    out = patch_user(BABS, {"op": "add", "path": "name", "value": {"middleName": "Jane"}})
    assert out.data["name"] == {"familyName": "Jensen", "givenName": "Barbara", "middleName": "Jane"}
    assert out.changed == ["name.middleName"]


def test_rfc7644_3_5_2_1_adding_a_new_primary_demotes_the_old_one() -> None:
    out = patch_user(BABS, {"op": "add", "path": "emails", "value": [{"value": "new@example.com", "primary": True}]})
    assert [(e["value"], e.get("primary")) for e in out.data["emails"]] == [
        ("bjensen@example.com", False),
        ("babs@jensen.org", None),
        ("new@example.com", True),
    ]


# --- RFC 7644 §3.5.2.2 remove ------------------------------------------------------------------


def test_rfc7644_3_5_2_2_remove_single_member() -> None:
    out = patch_group({"op": "remove", "path": f'members[value eq "{BJENSEN}"]'})
    assert out.members == MemberChanges(add=[], remove={BJENSEN})
    assert out.changed == ["members"]


def test_rfc7644_3_5_2_2_remove_all_members() -> None:
    out = patch_group({"op": "remove", "path": "members"})
    assert out.members == MemberChanges(add=[], remove=set(), remove_all=True)


def test_rfc7644_3_5_2_2_remove_all_members_then_add() -> None:
    out = patch_group(
        {"op": "remove", "path": "members"},
        {
            "op": "add",
            "path": "members",
            "value": [{"display": "Babs Jensen", "value": BJENSEN}, {"display": "Mandy Pepperidge", "value": MANDY}],
        },
    )
    assert out.members is not None and out.members.remove_all
    assert [m.value for m in out.members.add] == [BJENSEN, MANDY]


def test_rfc7644_3_5_2_2_remove_multi_valued_by_complex_filter() -> None:
    data = user(
        {
            "emails": [
                {"value": "b@example.com", "type": "work"},
                {"value": "b@other.org", "type": "work"},
                {"value": "b@home.example.com", "type": "home"},
            ]
        }
    )
    out = patch_user(data, {"op": "remove", "path": 'emails[type eq "work" and value ew "example.com"]'})
    assert [e["value"] for e in out.data["emails"]] == ["b@other.org", "b@home.example.com"]
    assert out.changed == ["emails"]


def test_rfc7644_3_5_2_2_remove_certificate_by_value() -> None:
    cert = BABS["x509Certificates"][0]["value"]
    out = patch_user(BABS, {"op": "remove", "path": f'x509certificates[value eq "{cert}"]'})
    assert "x509Certificates" not in out.data  # no values left: unassigned
    assert out.changed == ["x509Certificates"]


def test_rfc7644_3_5_2_2_remove_single_valued_and_extension_attribute() -> None:
    out = patch_user(BABS, {"op": "remove", "path": "title"}, {"op": "remove", "path": f"{ENT}:employeeNumber"})
    assert "title" not in out.data
    assert out.data[ENT] == {"department": "Tour Operations"}
    assert out.changed == ["title", f"{ENT}:employeeNumber"]


def test_rfc7644_3_5_2_2_removing_last_extension_value_drops_it_from_schemas() -> None:
    out = patch_user(
        BABS, {"op": "remove", "path": f"{ENT}:employeeNumber"}, {"op": "remove", "path": f"{ENT}:department"}
    )
    assert ENT not in out.data and out.data["schemas"] == [USER_SCHEMA]


def test_rfc7644_3_5_2_2_remove_sub_attribute_of_matching_elements() -> None:
    out = patch_user(BABS, {"op": "remove", "path": 'emails[type eq "work"].primary'})
    assert out.data["emails"][0] == {"value": "bjensen@example.com", "type": "work"}


def test_rfc7644_3_5_2_2_remove_sub_attribute_of_complex() -> None:
    out = patch_user(BABS, {"op": "remove", "path": "name.givenName"})
    assert out.data["name"] == {"familyName": "Jensen"} and out.changed == ["name.givenName"]
    out = patch_user(out.data, {"op": "remove", "path": "name.familyName"})
    assert "name" not in out.data


def test_rfc7644_3_5_2_2_remove_without_path_is_no_target() -> None:
    fails(NoTarget, user_type(), BABS, patch_body({"op": "remove"}))
    fails(NoTarget, user_type(), BABS, patch_body({"op": "remove", "value": {"title": "x"}}))


def test_rfc7644_3_5_2_2_removing_a_required_attribute_is_mutability() -> None:
    err = fails(Mutability, user_type(), BABS, patch_body({"op": "remove", "path": "userName"}))
    assert "userName" in err.detail
    fails(Mutability, group_type(), GROUP, patch_body({"op": "remove", "path": "displayName"}))


def test_remove_with_filter_matching_nothing_changes_nothing() -> None:
    out = patch_user(BABS, {"op": "remove", "path": 'emails[type eq "other"]'})
    assert out.data == BABS and out.changed == []


def test_remove_multi_valued_by_value_array() -> None:
    out = patch_user(BABS, {"op": "remove", "path": "emails", "value": [{"value": "BABS@jensen.org"}]})
    assert [e["value"] for e in out.data["emails"]] == ["bjensen@example.com"]


# --- RFC 7644 §3.5.2.3 replace -------------------------------------------------------------------


def test_rfc7644_3_5_2_3_replace_members() -> None:
    out = patch_group(
        {
            "op": "replace",
            "path": "members",
            "value": [
                {"display": "Babs Jensen", "$ref": f"https://example.com/v2/Users/{BJENSEN}", "value": BJENSEN},
                {"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d", "value": "08e1d05d"},
            ],
        }
    )
    assert out.members is not None
    assert out.members.remove_all and out.members.remove == set()
    assert [m.value for m in out.members.add] == [BJENSEN, "08e1d05d"]


def test_rfc7644_3_5_2_3_replace_work_address() -> None:
    new = {
        "type": "work",
        "streetAddress": "911 Universal City Plaza",
        "locality": "Hollywood",
        "region": "CA",
        "postalCode": "91608",
        "country": "US",
        "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
        "primary": True,
    }
    out = patch_user(BABS, {"op": "replace", "path": 'addresses[type eq "work"]', "value": new})
    assert out.data["addresses"] == [
        {
            k: new[k]
            for k in ("formatted", "streetAddress", "locality", "region", "postalCode", "country", "type", "primary")
        }
    ]
    assert out.changed == ["addresses"]


def test_rfc7644_3_5_2_3_replace_street_address_of_work_address() -> None:
    out = patch_user(
        BABS, {"op": "replace", "path": 'addresses[type eq "work"].streetAddress', "value": "1010 Broadway Ave"}
    )
    assert out.data["addresses"][0]["streetAddress"] == "1010 Broadway Ave"
    assert out.data["addresses"][0]["locality"] == "Hollywood"


def test_rfc7644_3_5_2_3_replace_without_path() -> None:
    out = patch_user(
        BABS,
        {
            "op": "replace",
            "value": {
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": True},
                    {"value": "babs@jensen.org", "type": "home"},
                ],
                "nickname": "Babs",
            },
        },
    )
    assert out.data["emails"] == BABS["emails"]
    assert out.changed == ["nickName"]


def test_rfc7644_3_5_2_3_replace_multi_valued_replaces_all() -> None:
    out = patch_user(BABS, {"op": "replace", "path": "emails", "value": [{"value": "only@example.com"}]})
    assert out.data["emails"] == [{"value": "only@example.com"}]


def test_rfc7644_3_5_2_3_replace_complex_leaves_other_sub_attributes() -> None:
    out = patch_user(BABS, {"op": "replace", "path": "name", "value": {"givenName": "Babs"}})
    assert out.data["name"] == {"familyName": "Jensen", "givenName": "Babs"}


def test_rfc7644_3_5_2_3_replace_with_filter_matching_nothing_is_no_target() -> None:
    err = fails(
        NoTarget,
        user_type(),
        BABS,
        patch_body({"op": "replace", "path": 'emails[value co "nowhere"].type', "value": "work"}),
    )
    assert "emails" in err.detail
    fails(
        NoTarget,
        user_type(),
        BABS,
        patch_body({"op": "replace", "path": 'emails[type eq "a" or type eq "b"].value', "value": "x@y"}),
    )


def test_replace_with_null_unassigns() -> None:
    out = patch_user(
        BABS, {"op": "replace", "path": "title", "value": None}, {"op": "replace", "value": {"name.givenName": None}}
    )
    assert "title" not in out.data and out.data["name"] == {"familyName": "Jensen"}


def test_replace_sub_attribute_of_every_element_without_filter() -> None:
    out = patch_user(BABS, {"op": "replace", "path": "emails.type", "value": "other"})
    assert {e["type"] for e in out.data["emails"]} == {"other"}


def test_add_sub_attribute_to_an_empty_multi_valued_attribute_creates_an_element() -> None:
    out = patch_user(user({}), {"op": "add", "path": "emails.value", "value": "x@example.com"})
    assert out.data["emails"] == [{"value": "x@example.com"}]


# --- Okta's documented bodies ------------------------------------------------------------------------


def test_okta_deactivate_user() -> None:
    out = patch_user(BABS, {"op": "replace", "value": {"active": False}})
    assert out.data["active"] is False and out.changed == ["active"]


def test_okta_no_path_replace_of_several_attributes_with_dotted_keys() -> None:
    out = patch_user(
        BABS,
        {
            "op": "replace",
            "value": {
                "userName": "babs@example.com",
                "name.givenName": "Babs",
                "name.familyName": "Jensen-Smith",
                'emails[type eq "work"].value': "babs@example.com",
                f"{ENT}:department": "R&D",
                "active": True,
            },
        },
    )
    assert out.data["userName"] == "babs@example.com"
    assert out.data["name"] == {"familyName": "Jensen-Smith", "givenName": "Babs"}
    assert out.data["emails"][0]["value"] == "babs@example.com"
    assert out.data[ENT]["department"] == "R&D"
    assert out.changed == ["emails", "name.familyName", "name.givenName", f"{ENT}:department", "userName"]


def test_okta_rename_group_with_id_in_value() -> None:
    out = patch_group(
        {"op": "replace", "value": {"id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", "displayName": "Test SCIMv2"}}
    )
    assert out.data == {"schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2"}
    assert out.changed == ["displayName"] and out.members is None


def test_okta_add_and_remove_group_members() -> None:
    out = patch_group(
        {
            "op": "add",
            "path": "members",
            "value": [{"value": "23a35c27-23d3-4c03-b4c5-6443c09e7173", "display": "test.user@okta.local"}],
        }
    )
    assert out.members is not None
    assert out.members.add == [MemberRef("23a35c27-23d3-4c03-b4c5-6443c09e7173", None, "test.user@okta.local")]
    out = patch_group({"op": "remove", "path": 'members[value eq "89bb1940-b905-4575-9e7f-6f887cfb368e"]'})
    assert out.members == MemberChanges(add=[], remove={"89bb1940-b905-4575-9e7f-6f887cfb368e"})


# --- Entra's documented bodies -----------------------------------------------------------------


def test_entra_capitalised_ops_and_string_false() -> None:
    out = patch_user(BABS, {"op": "Replace", "path": "active", "value": "False"})
    assert out.data["active"] is False and out.changed == ["active"]
    out = patch_user(out.data, {"op": "REPLACE", "path": "active", "value": "True"})
    assert out.data["active"] is True


def test_entra_update_multi_valued_and_single_valued() -> None:
    out = patch_user(
        BABS,
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Replace", "path": "userName", "value": "5b50642d@testuser.com"},
    )
    assert out.data["emails"][0] == {"value": "updatedEmail@microsoft.com", "type": "work", "primary": True}
    assert out.data["name"]["familyName"] == "updatedFamilyName"
    assert out.changed == ["emails", "name.familyName", "userName"]


def test_entra_add_when_no_element_matches_creates_it_from_the_filter() -> None:
    bare = user({})
    out = patch_user(
        bare,
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "bjensen@example.com"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
        {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Hollywood"},
        {"op": "Add", "path": 'addresses[type eq "work"].postalCode', "value": "91608"},
        {"op": "Add", "path": "externalId", "value": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"},
    )
    assert out.data["emails"] == [{"value": "bjensen@example.com", "type": "work"}]
    assert out.data["phoneNumbers"] == [{"value": "+1 555 0100", "type": "mobile"}]
    # The second operation finds the element the first one created.
    assert out.data["addresses"] == [{"locality": "Hollywood", "postalCode": "91608", "type": "work"}]
    assert out.changed == ["addresses", "emails", "externalId", "phoneNumbers"]


def test_entra_replace_when_no_element_matches_creates_it_too() -> None:
    out = patch_user(BABS, {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0199"})
    assert out.data["phoneNumbers"] == [
        {"value": "555-555-5555", "type": "work"},
        {"value": "+1 555 0199", "type": "mobile"},
    ]


def test_add_with_and_of_eq_terms_builds_element_with_typed_values() -> None:
    out = patch_user(
        user({}), {"op": "add", "path": 'emails[type eq "work" and primary eq true].value', "value": "w@example.com"}
    )
    assert out.data["emails"] == [{"value": "w@example.com", "type": "work", "primary": True}]


def test_entra_manager_as_bare_id() -> None:
    out = patch_user(BABS, {"op": "Add", "path": f"{ENT}:manager", "value": "26118915-6090-4610-87e4-49d8ca9f808d"})
    assert out.data[ENT]["manager"] == {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
    assert out.changed == [f"{ENT}:manager.value"]
    # A new bare id replaces the whole manager, so a stale $ref cannot survive.
    data = user({ENT: {"manager": {"value": "old", "$ref": "../Users/old"}}})
    out = patch_user(data, {"op": "Replace", "path": f"{ENT}:manager", "value": "new"})
    assert out.data[ENT]["manager"] == {"value": "new"}


def test_entra_manager_value_sub_path_and_extension_gains_schema() -> None:
    out = patch_user(user({}), {"op": "Add", "path": f"{ENT}:manager.value", "value": "m1"})
    assert out.data == {"schemas": [USER_SCHEMA, ENT], "userName": "bjensen", ENT: {"manager": {"value": "m1"}}}


def test_entra_group_members_add_and_remove_by_value_array() -> None:
    out = patch_group({"op": "Add", "path": "members", "value": [{"$ref": None, "value": "f648f8d5ea4e4cd38e9c"}]})
    assert out.members == MemberChanges(add=[MemberRef("f648f8d5ea4e4cd38e9c")], remove=set())
    out = patch_group({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": "a2a4a2a4"}]})
    assert out.members == MemberChanges(add=[], remove={"a2a4a2a4"})


def test_entra_replace_group_display_name() -> None:
    out = patch_group({"op": "Replace", "path": "displayName", "value": "1879db59-updatedDisplayName"})
    assert out.data["displayName"] == "1879db59-updatedDisplayName" and out.members is None


def test_entra_no_path_replace_with_string_boolean() -> None:
    out = patch_user(BABS, {"op": "Replace", "value": {"active": "False", "title": "True"}})
    assert out.data["active"] is False and out.data["title"] == "True"


# --- group members: folding several operations ---------------------------------------------------


def test_members_or_chain_of_value_eq_is_a_remove_set() -> None:
    out = patch_group({"op": "remove", "path": f'members[value eq "{BJENSEN}" or value eq "{MANDY}"]'})
    assert out.members == MemberChanges(add=[], remove={BJENSEN, MANDY})


def test_members_other_filter_is_remove_where() -> None:
    out = patch_group({"op": "remove", "path": 'members[type eq "Group"]'})
    assert out.members is not None and out.members.remove_where is not None
    assert element_matches(out.members.remove_where, {"value": "g", "type": "Group"})
    assert not element_matches(out.members.remove_where, {"value": "u", "type": "User"})
    assert out.members.add == [] and out.members.remove == set() and not out.members.remove_all


def test_members_add_then_remove_cancels_the_add() -> None:
    out = patch_group(
        {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
        {"op": "remove", "path": 'members[value eq "u1"]'},
    )
    assert out.members == MemberChanges(add=[MemberRef("u2")], remove={"u1"})


def test_members_remove_then_add_keeps_the_member() -> None:
    out = patch_group(
        {"op": "remove", "path": 'members[value eq "u1"]'}, {"op": "add", "path": "members", "value": [{"value": "u1"}]}
    )
    assert out.members == MemberChanges(add=[MemberRef("u1")], remove=set())


def test_members_remove_where_drops_matching_pending_adds() -> None:
    out = patch_group(
        {"op": "add", "path": "members", "value": [{"value": "g1", "type": "Group"}, {"value": "u1"}]},
        {"op": "remove", "path": 'members[type eq "Group"]'},
        {"op": "remove", "path": 'members[display sw "x"]'},
    )
    assert out.members is not None
    assert out.members.add == [MemberRef("u1")]
    assert isinstance(out.members.remove_where, Or)
    assert isinstance(out.members.remove_where.left, Compare)


def test_members_no_path_add_and_replace_behave_like_the_path_form() -> None:
    out = patch_group({"op": "add", "value": {"members": [{"value": "u1"}], "displayName": "New"}})
    assert out.members == MemberChanges(add=[MemberRef("u1")], remove=set())
    assert out.changed == ["displayName", "members"]
    out = patch_group({"op": "replace", "value": {"members": [{"value": "u2"}]}})
    assert out.members == MemberChanges(add=[MemberRef("u2")], remove=set(), remove_all=True)


def test_members_empty_value_array_changes_nothing() -> None:
    out = patch_group({"op": "add", "path": "members", "value": []})
    assert out.members is None and out.changed == []


def test_members_are_never_written_into_data() -> None:
    out = patch_group({"op": "add", "path": "members", "value": [{"value": "u1"}]})
    assert "members" not in out.data


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "add", "path": 'members[value eq "u1"]', "value": {"value": "u1"}},
        {"op": "replace", "path": 'members[value eq "u1"].display', "value": "x"},
        {"op": "remove", "path": "members.display"},
    ],
)
def test_members_are_changed_as_whole_elements(operation: dict[str, Any]) -> None:
    fails(InvalidPath, group_type(), GROUP, patch_body(operation))


def test_member_without_value_is_invalid_value() -> None:
    fails(InvalidValue, group_type(), GROUP, patch_body({"op": "add", "path": "members", "value": [{"display": "x"}]}))
    fails(InvalidValue, group_type(), GROUP, patch_body({"op": "remove", "path": "members", "value": [{}]}))


# --- no-path values ------------------------------------------------------------------------------------


def test_no_path_value_with_extension_urn_holding_an_object() -> None:
    out = patch_user(BABS, {"op": "replace", "value": {ENT: {"department": "R&D", "costCenter": "4130"}}})
    assert out.data[ENT] == {"employeeNumber": "701984", "costCenter": "4130", "department": "R&D"}
    assert out.changed == [f"{ENT}:costCenter", f"{ENT}:department"]


def test_no_path_value_with_core_urn_holding_an_object() -> None:
    out = patch_user(BABS, {"op": "replace", "value": {USER_SCHEMA: {"title": "Boss"}}})
    assert out.data["title"] == "Boss"


def test_no_path_unknown_keys_are_ignored_like_in_a_post() -> None:
    out = patch_user(BABS, {"op": "replace", "value": {"favouriteColour": "blue", "meta": {}, "schemas": []}})
    assert out.data == BABS and out.changed == []


def test_no_path_value_must_be_an_object() -> None:
    fails(InvalidValue, user_type(), BABS, patch_body({"op": "replace", "value": "inactive"}))
    fails(InvalidValue, user_type(), BABS, patch_body({"op": "add", "value": [{"active": False}]}))


def test_password_is_accepted_and_never_stored() -> None:
    out = patch_user(
        BABS,
        {"op": "replace", "value": {"password": "t1meMa$heen"}},
        {"op": "replace", "path": "password", "value": "other"},
    )
    assert out.data == BABS and out.changed == []


# --- mutability ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "id", "value": "other"},
        {"op": "remove", "path": "id"},
        {"op": "replace", "path": "meta.version", "value": "1"},
        {"op": "add", "path": "groups", "value": [{"value": "g1"}]},
        {"op": "remove", "path": 'groups[value eq "g1"]'},
        {"op": "replace", "path": f"{ENT}:manager.displayName", "value": "Boss"},
        {"op": "replace", "value": {"groups": [{"value": "g1"}]}},
    ],
)
def test_read_only_targets_are_mutability(operation: dict[str, Any]) -> None:
    err = fails(Mutability, user_type(), BABS, patch_body(operation))
    assert "read-only" in err.detail


def _thing_type() -> ResourceType:
    attrs = (Attribute("serial", "string", mutability="immutable"), Attribute("label", "string"))
    return ResourceType(
        "Thing", "/Things", "", SchemaDef("urn:test:Thing", "Thing", "", {a.name.lower(): a for a in attrs})
    )


def test_immutable_attribute_may_be_set_once_but_not_changed() -> None:
    thing = _thing_type()
    out = apply_patch(
        thing, {"schemas": ["urn:test:Thing"]}, patch_body({"op": "add", "path": "serial", "value": "A1"})
    )
    assert out.data["serial"] == "A1"
    same = apply_patch(thing, out.data, patch_body({"op": "replace", "path": "serial", "value": "A1"}))
    assert same.changed == []
    fails(Mutability, thing, out.data, patch_body({"op": "replace", "path": "serial", "value": "B2"}))
    fails(Mutability, thing, out.data, patch_body({"op": "remove", "path": "serial"}))


# --- values are checked as in normalise --------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "named"),
    [
        ({"op": "replace", "path": "active", "value": "yes"}, "active"),
        ({"op": "replace", "path": "title", "value": 5}, "title"),
        ({"op": "add", "path": "emails", "value": [{"value": 1}]}, "emails.value"),
        ({"op": "replace", "path": 'emails[type eq "work"].primary', "value": "often"}, "emails.primary"),
        ({"op": "replace", "path": "name", "value": ["a"]}, "name"),
        ({"op": "replace", "value": {f"{ENT}:department": 7}}, f"{ENT}:department"),
        ({"op": "replace", "path": "userName", "value": ""}, "userName"),
    ],
)
def test_wrong_values_are_invalid_value(operation: dict[str, Any], named: str) -> None:
    err = fails(InvalidValue, user_type(), BABS, patch_body(operation))
    assert named in err.detail


def test_result_has_the_canonical_shape_normalise_produces() -> None:
    out = patch_user(
        user({}),
        {
            "op": "add",
            "value": {"EMAILS": {"VALUE": "a@x", "Primary": "true"}, "NAME": {"GivenName": "B"}, "title": "T"},
        },
    )
    assert (
        out.data
        == normalise(
            user_type(),
            {
                "userName": "bjensen",
                "title": "T",
                "name": {"givenName": "B"},
                "emails": [{"value": "a@x", "primary": True}],
            },
        ).data
    )
    assert list(out.data) == ["schemas", "userName", "name", "title", "emails"]


# --- paths ---------------------------------------------------------------------------------------


def test_path_naming_a_whole_extension_adds_replaces_and_removes_it() -> None:
    """scim2-tester and some IdPs address the enterprise extension object as a whole."""
    base = user({"userName": "a"})
    added = patch_user(base, {"op": "add", "path": ENT, "value": {"department": "Ops"}})
    assert added.data[ENT] == {"department": "Ops"}
    assert ENT in added.data["schemas"]
    replaced = patch_user(added.data, {"op": "replace", "path": ENT.upper(), "value": {"costCenter": "7"}})
    assert replaced.data[ENT]["costCenter"] == "7"
    removed = patch_user(replaced.data, {"op": "remove", "path": ENT})
    assert ENT not in removed.data and ENT not in removed.data["schemas"]


@pytest.mark.parametrize(
    "path",
    [
        "nickname2",
        "name.nosuch",
        "urn:example:unknown:2.0:User:x",
        'emails[type eq "work"',
        "emails[nosuch eq 1]",
        'emails[type eq "work"].nosuch',
    ],
)
def test_path_naming_no_attribute_is_invalid_path(path: str) -> None:
    fails(InvalidPath, user_type(), BABS, patch_body({"op": "replace", "path": path, "value": "x"}))


def test_value_filter_on_single_valued_attribute_is_invalid_path() -> None:
    fails(
        InvalidPath,
        user_type(),
        BABS,
        patch_body({"op": "replace", "path": 'name[givenName eq "Barbara"].familyName', "value": "x"}),
    )


def test_path_names_are_case_insensitive() -> None:
    out = patch_user(
        BABS,
        {"op": "replace", "path": 'EMAILS[TYPE eq "work"].VALUE', "value": "w@example.com"},
        {"op": "replace", "path": f"{ENT.upper()}:DEPARTMENT", "value": "R&D"},
    )
    assert out.data["emails"][0]["value"] == "w@example.com"
    assert out.data[ENT]["department"] == "R&D"


# --- the body --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        [],
        "x",
        {"schemas": [PATCH_OP_SCHEMA]},
        {"schemas": [PATCH_OP_SCHEMA], "Operations": {"op": "add"}},
        {"schemas": [PATCH_OP_SCHEMA], "Operations": ["add"]},
        {"schemas": [PATCH_OP_SCHEMA], "Operations": [{"path": "title", "value": "x"}]},
        {"schemas": [USER_SCHEMA], "Operations": [{"op": "add", "path": "title", "value": "x"}]},
        {"schemas": PATCH_OP_SCHEMA, "Operations": [{"op": "add", "path": "title", "value": "x"}]},
    ],
)
def test_malformed_body_is_invalid_syntax(body: Any) -> None:
    fails(InvalidSyntax, user_type(), BABS, body)


def test_empty_operations_unknown_op_and_missing_value_are_invalid_value() -> None:
    fails(InvalidValue, user_type(), BABS, {"schemas": [PATCH_OP_SCHEMA], "Operations": []})
    err = fails(InvalidValue, user_type(), BABS, patch_body({"op": "move", "path": "title", "value": "x"}))
    assert "move" in err.detail
    fails(InvalidValue, user_type(), BABS, patch_body({"op": "add", "path": "title"}))


def test_non_string_path_is_invalid_path() -> None:
    fails(InvalidPath, user_type(), BABS, patch_body({"op": "add", "path": 5, "value": "x"}))


def test_operations_key_and_field_names_in_any_case() -> None:
    out = apply_patch(
        user_type(),
        BABS,
        {"SCHEMAS": [PATCH_OP_SCHEMA], "operations": [{"OP": "Replace", "Path": "title", "Value": "T"}]},
    )
    assert out.data["title"] == "T"


def test_schemas_may_be_omitted() -> None:
    out = apply_patch(user_type(), BABS, {"Operations": [{"op": "replace", "path": "title", "value": "T"}]})
    assert out.changed == ["title"]


def test_error_names_the_failing_operation() -> None:
    err = fails(
        InvalidValue,
        user_type(),
        BABS,
        patch_body(
            {"op": "replace", "path": "title", "value": "ok"}, {"op": "replace", "path": "active", "value": "nope"}
        ),
    )
    assert err.detail.startswith("Operation 2 (replace active)")


def test_patch_is_atomic_and_never_mutates_its_input() -> None:
    data = copy.deepcopy(BABS)
    out = patch_user(
        data,
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "x@example.com"},
        {"op": "remove", "path": "name.givenName"},
    )
    assert data == BABS
    assert out.data["emails"][0]["value"] == "x@example.com"


def test_patch_that_changes_nothing() -> None:
    out = patch_user(
        BABS, {"op": "replace", "path": "title", "value": "Tour Guide"}, {"op": "remove", "path": "nickName"}
    )
    assert out.data == BABS and out.changed == [] and out.members is None


def test_operations_apply_in_order() -> None:
    out = patch_user(
        BABS,
        {"op": "replace", "path": "title", "value": "A"},
        {"op": "remove", "path": "title"},
        {"op": "add", "path": "title", "value": "B"},
    )
    assert out.data["title"] == "B"


def test_empty_path_is_read_as_no_path() -> None:
    out = patch_user(BABS, {"op": "replace", "path": "", "value": {"title": "T"}})
    assert out.data["title"] == "T"
    fails(NoTarget, user_type(), BABS, patch_body({"op": "remove", "path": " "}))


def test_add_whole_element_with_filter_matching_nothing_merges_into_the_seed() -> None:
    out = patch_user(BABS, {"op": "add", "path": 'phoneNumbers[type eq "mobile"]', "value": {"value": "+1 555 0100"}})
    assert out.data["phoneNumbers"][-1] == {"value": "+1 555 0100", "type": "mobile"}


def test_add_or_replace_with_null_value() -> None:
    assert patch_user(BABS, {"op": "add", "path": "nickName", "value": None}).changed == []
    out = patch_user(BABS, {"op": "replace", "value": {ENT: None}})
    assert ENT not in out.data and out.data["schemas"] == [USER_SCHEMA]


def test_members_given_as_bare_ids() -> None:
    out = patch_group({"op": "remove", "path": "members", "value": ["u1", "u2"]})
    assert out.members == MemberChanges(add=[], remove={"u1", "u2"})


def test_members_after_remove_all_only_the_later_adds_count() -> None:
    out = patch_group(
        {"op": "add", "path": "members", "value": [{"value": "u1"}]},
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [{"value": "u2"}]},
        {"op": "remove", "path": 'members[type eq "Group"]'},
    )
    assert out.members == MemberChanges(add=[MemberRef("u2")], remove=set(), remove_all=True)
