"""Event formats: OCSF 1.8.0 records checked against the compiled schema; CEF lines parsed back."""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from audit.events import CATALOGUE
from audit.formats import encode_cef, encode_native, encode_ocsf

_SCHEMA = Path("/work/shared/ocsf/ocsf-schema-1.8.0.json.gz")
ALL_ACTIONS = [action for actions in CATALOGUE.values() for action in actions]


@cache
def schema() -> dict[str, Any]:
    with gzip.open(_SCHEMA) as f:
        return json.load(f)


def _event(action: str, **overrides: Any) -> dict[str, Any]:
    category = next(c for c, actions in CATALOGUE.items() if action in actions)
    targets = {
        "group.member_added": [{"type": "group", "name": "Engineering"}, {"type": "user", "name": "jane@acme.example"}],
        "group.member_removed": [
            {"type": "group", "name": "Engineering"},
            {"type": "user", "name": "jane@acme.example"},
        ],
    }.get(action)
    if targets is None:
        kind = action.split(".")[0]
        targets = [{"type": kind, "name": "jane@acme.example" if kind == "user" else f"{kind}-prod"}]
    event = {
        "id": "evt_01JD7Q3Z9X0000000000000000",
        "version": 1,
        "organization": "acme",
        "sequence": 1042,
        "action": action,
        "category": category,
        "occurred_at": "2026-11-22T02:00:00.123Z",
        "actor": {"type": "scim_token", "name": "okta-prod"},
        "targets": targets,
        "context": {"ip": "203.0.113.7", "user_agent": "Okta SCIM Client", "request_id": "req_1"},
        "metadata": {"changed": ["name.givenName", "active"]},
        "prev_hash": "a" * 64,
        "hash": "b" * 64,
    }
    event.update(overrides)
    return event


def _check_object(value: Any, spec: dict[str, Any], where: str, problems: list[str]) -> None:
    """Every key known, every required attribute present, enums respected, constraints met."""
    attributes = spec["attributes"]
    if not isinstance(value, dict):
        problems.append(f"{where} is not an object")
        return
    for name, attribute in attributes.items():
        if attribute.get("requirement") == "required" and not attribute.get("profile") and name not in value:
            problems.append(f"{where}.{name} is required")
    for group in (spec.get("constraints") or {}).values():
        if not any(name in value for name in group):
            problems.append(f"{where} needs one of {group}")
    for name, item in value.items():
        attribute = attributes.get(name)
        if attribute is None:
            problems.append(f"{where}.{name} is not an OCSF attribute")
            continue
        if attribute.get("enum") and str(item) not in attribute["enum"]:
            problems.append(f"{where}.{name}={item!r} is not in its enum")
        if attribute.get("type") == "object_t" and attribute.get("object_type") != "object":
            _check_object(item, schema()["objects"][attribute["object_type"]], f"{where}.{name}", problems)


def ocsf_problems(record: dict[str, Any]) -> list[str]:
    classes = {c["uid"]: c for c in schema()["classes"].values()}
    ocsf_class = classes.get(record.get("class_uid"))
    if ocsf_class is None:
        return [f"unknown class_uid {record.get('class_uid')}"]
    problems: list[str] = []
    _check_object(record, ocsf_class, ocsf_class["name"], problems)
    if record["type_uid"] != record["class_uid"] * 100 + record["activity_id"]:
        problems.append("type_uid is not class_uid * 100 + activity_id")
    return problems


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_every_catalogue_action_maps_to_a_valid_ocsf_record(action: str) -> None:
    record = encode_ocsf(_event(action))
    assert ocsf_problems(record) == []
    assert record["class_uid"] in (3001, 3002, 3004, 3006)
    assert record["metadata"]["version"] == "1.8.0"
    assert record["metadata"]["tenant_uid"] == "acme"
    assert record["time"] == 1795312800123


def test_ocsf_subjects_carry_names_never_internal_ids() -> None:
    added = encode_ocsf(_event("group.member_added"))
    assert added["group"] == {"name": "Engineering"}
    assert added["user"]["name"] == "jane@acme.example" and "uid" not in added["user"]
    provisioned = encode_ocsf(_event("user.provisioned"))
    assert (provisioned["class_uid"], provisioned["activity_id"]) == (3001, 1)
    assert provisioned["user"]["email_addr"] == "jane@acme.example"
    token = encode_ocsf(_event("scim_token.revoked"))
    assert token["entity"] == {"name": "scim_token-prod", "type": "scim_token", "type_id": 99}
    serialized = json.dumps([added, provisioned, token])
    assert '"uid": "ls_' not in serialized and "externalId" not in serialized


def test_ocsf_failed_authentication_is_a_failure_with_its_reason() -> None:
    record = encode_ocsf(
        _event(
            "credential.rejected", targets=[{"type": "scim_token", "name": "scim_ab12"}], metadata={"reason": "revoked"}
        )
    )
    assert (record["class_uid"], record["activity_id"], record["status_id"]) == (3002, 1, 2)
    assert record["status_detail"] == "revoked"
    assert ocsf_problems(record) == []


def test_the_schema_check_catches_a_broken_record() -> None:
    record = encode_ocsf(_event("user.provisioned"))
    del record["user"]
    record["activity_id"] = 42
    record["surprise"] = 1
    problems = ocsf_problems(record)
    assert any("user is required" in p for p in problems)
    assert any("activity_id=42" in p for p in problems)
    assert any("surprise" in p for p in problems)


def _parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    header = re.split(r"(?<!\\)\|", line, maxsplit=7)
    extension: dict[str, str] = {}
    for match in re.finditer(r"(\w+)=((?:\\=|[^=])*?)(?=\s\w+=|$)", header[7]):
        extension[match.group(1)] = match.group(2).replace("\\=", "=").replace("\\n", "\n").replace("\\\\", "\\")
    return header[:7], extension


def test_cef_line_has_the_documented_fields_and_escapes() -> None:
    event = _event(
        "group.member_added",
        targets=[{"type": "group", "name": "R|D"}, {"type": "user", "name": "jane@acme.example"}],
        metadata={},
    )
    line = encode_cef(event)
    header, ext = _parse_cef(line)
    assert header[:5] == ["CEF:0", "scimtrail", "SCIM Server", "1", "group.member_added"]
    assert header[5] == "okta-prod: group.member_added R\\|D, jane@acme.example"
    assert ext["act"] == "group.member_added" and ext["cat"] == "scim_provisioning"
    assert ext["suser"] == "okta-prod" and ext["duser"] == "jane@acme.example"
    assert ext["src"] == "203.0.113.7" and ext["cs1"] == "acme" and ext["externalId"] == event["id"]
    assert ext["rt"] == "1795312800123"
    tricky = encode_cef(_event("user.updated", actor={"type": "admin", "name": "a=b\nc"}))
    assert "suser=a\\=b\\nc" in tricky and "\n" not in tricky


def test_native_is_the_canonical_event() -> None:
    event = _event("user.deleted")
    assert encode_native(event) == event
