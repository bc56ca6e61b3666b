"""The privacy pipeline: only customer-facing identifiers survive (DESIGN §5)."""

from __future__ import annotations

import random
import re

import orjson

from audit import Actor, EventDraft, RequestContext, Target, redaction
from audit.redaction import REDACTED, looks_internal, looks_secret, redact, to_canonical

_UUID = "2819c223-7f76-453a-919d-413861904646"
_ULID = "01JD4Q1N8Y6XG3Q6R4Z8V9W2KM"
_HEX = "9f86d081884c7d659a2feaa0c55ad015"
_OKTA_ID = "00ub0oNGTSWTBKOLGLNR"
_EXTERNAL_ID = "701984"
_TOKEN = "scim_ab12cd34_Zm9vYmFyYmF6cXV4cXV1eA"
_API_KEY = "sk_live9_SuperSecretValue123"


def _leaky_draft() -> EventDraft:
    return EventDraft(
        organization="acme",
        action="user.updated",
        actor=Actor("scim_token", _UUID),
        targets=(Target("user", "jane@acme.example"), Target("user", _OKTA_ID), Target("group", f"grp {_ULID}")),
        context=RequestContext(ip="203.0.113.7", user_agent=f"curl Bearer {_TOKEN}", request_id="req_42"),
        metadata={
            "changed": [
                {"path": "name.givenName", "value": "Janet"},
                {"path": "phoneNumbers", "value": "+1 555 0100"},
                "active",
                _UUID,
            ],
            "externalId": _EXTERNAL_ID,
            "external_id": _EXTERNAL_ID,
            "user_id": _UUID,
            "id": 4711,
            "groupIds": [_HEX],
            "password": "hunter2-Secret!",
            "authorization": f"Bearer {_TOKEN}",
            "note": f"created with {_API_KEY}",
            "object": _HEX,
            "value": "Janet",
            "new": {"givenName": "Janet"},
            "attributes": {"title": "Chief Secret Officer"},
            "nested": {"familyName": "Doe"},
            "okta": _OKTA_ID,
            "reason": "profile push",
        },
    )


def test_internal_ids_external_ids_values_and_secrets_do_not_survive() -> None:
    event = to_canonical(_leaky_draft())
    text = orjson.dumps(event).decode()
    for leaked in (
        _UUID,
        _ULID,
        _HEX,
        _OKTA_ID,
        _EXTERNAL_ID,
        _TOKEN,
        _API_KEY,
        "hunter2",
        "Janet",
        "+1 555",
        "Chief Secret Officer",
        "Doe",
        "4711",
    ):
        assert leaked not in text, leaked
    assert event["actor"] == {"type": "scim_token", "name": REDACTED}
    assert event["targets"] == [
        {"type": "user", "name": "jane@acme.example"},
        {"type": "user", "name": REDACTED},
        {"type": "group", "name": REDACTED},
    ]
    assert event["metadata"] == {"changed": ["name.givenName", "phoneNumbers", "active"], "reason": "profile push"}
    assert event["context"] == {"ip": "203.0.113.7", "user_agent": REDACTED, "request_id": "req_42"}


def test_customer_facing_identifiers_are_kept() -> None:
    draft = EventDraft(
        organization="acme",
        action="group.member_added",
        actor=Actor("oauth_client", "entra-provisioning"),
        targets=(Target("group", "Engineering EMEA"), Target("user", "jane.doe@acme.example")),
        metadata={"changed": ["members"], "count": 3, "label": "okta-prod"},
    )
    event = to_canonical(draft)
    assert event["actor"]["name"] == "entra-provisioning"
    assert [t["name"] for t in event["targets"]] == ["Engineering EMEA", "jane.doe@acme.example"]
    assert event["metadata"] == {"changed": ["members"], "count": 3, "label": "okta-prod"}


def test_changed_given_as_a_mapping_keeps_only_the_names() -> None:
    event = to_canonical(
        EventDraft(
            "acme", "user.updated", Actor("scim_token", "okta"), metadata={"changed": {"title": "CEO", "active": False}}
        )
    )
    assert event["metadata"]["changed"] == ["title", "active"]


def test_metadata_limits() -> None:
    metadata: dict[str, object] = {f"k{i:02d}": i for i in range(80)}
    metadata["x" * 41] = "too long a key"
    metadata["k00"] = "v" * 900
    metadata["k01"] = ["word"] * 400
    event = to_canonical(
        EventDraft("acme", "log_stream.updated", Actor("admin", "ops@acme.example"), metadata=metadata)
    )
    kept = event["metadata"]
    assert len(kept) == 50
    assert all(len(k) <= 40 for k in kept)
    assert kept["k00"] == "v" * 500
    assert len(orjson.dumps(kept["k01"])) <= 500


def test_only_canonical_fields_survive() -> None:
    event = to_canonical(_leaky_draft())
    event["internal_pk"] = 7
    event["actor"]["id"] = _UUID
    cleaned = redact(event)
    assert set(cleaned) == {
        "id",
        "version",
        "organization",
        "action",
        "category",
        "occurred_at",
        "actor",
        "targets",
        "context",
        "metadata",
    }
    assert set(cleaned["actor"]) == {"type", "name"}


def test_id_detection() -> None:
    assert looks_internal(_UUID) and looks_internal(_UUID.replace("-", "")) and looks_internal(_ULID)
    assert looks_internal(_HEX) and looks_internal(_OKTA_ID)
    for name in (
        "jane@acme.example",
        "Engineering",
        "okta-prod",
        "2026-11-22T02:00:00.123Z",
        "deadbeef",
        "scim_provisioning",
        "scim_token",
    ):
        assert not looks_internal(name) and not looks_secret(name), name
    assert looks_secret(_TOKEN) and looks_secret(_API_KEY) and looks_secret("Bearer abc.def")
    assert looks_secret("sat_0a1b2c3d4e5f_Q2hhbmdlTWVOb3dQbGVhc2U")


def _one_pass_patterns() -> list[tuple[re.Pattern[str], re.Pattern[str]]]:
    """Each combined pattern the pipeline uses, beside the plain form it must agree with: every
    shape an alternative of its own, each with its own boundary test."""
    ids = "|".join(f"{redaction._B}{shape}{redaction._E}" for shape in redaction._INTERNAL_ID_SHAPES)
    secrets = "|".join(rf"\b{shape}" for shape in redaction._SECRET_SHAPES) + f"|{redaction._PEM_PRIVATE_KEY}"
    return [
        (redaction._INTERNAL_ID, re.compile(ids)),
        (redaction._SECRET, re.compile(secrets, re.IGNORECASE)),
        (redaction._SUSPECT, re.compile(f"{ids}|{secrets}", re.IGNORECASE)),
    ]


def test_the_one_pass_patterns_match_exactly_what_their_plain_forms_match() -> None:
    """The checks share one boundary test per position for speed; random text built from the
    shapes' own pieces (and characters that case-fold into ASCII letters) finds no difference."""
    pieces = [
        "bearer ",
        "Bearer\t",
        "scim_",
        "SAT_",
        "sk_",
        "whsec_",
        "eyJ",
        "EYj",
        "-----BEGIN RSA PRIVATE KEY-----",
        "00u",
        "00G",
        "0123456789abcdef",
        _ULID,
        _UUID,
        _HEX,
        _OKTA_ID,
        _TOKEN,
        "_",
        "-",
        ".",
        "@",
        " ",
        "=",
        "/",
    ]
    alphabet = "0123456789abcdefABCDEFghjkmnpqrstvwxyzGHJKMNPQRSTVWXYZilouILOU_-. @=/+\tſKéİı"
    rng = random.Random(5)
    patterns = _one_pass_patterns()
    matched = [0] * len(patterns)
    for _ in range(40_000):
        text = "".join(
            rng.choice(pieces) if rng.random() < 0.35 else "".join(rng.choices(alphabet, k=rng.randint(1, 30)))
            for _ in range(rng.randint(1, 6))
        )
        for i, (fast, plain) in enumerate(patterns):
            found = fast.search(text) is not None
            assert found == (plain.search(text) is not None), (fast.pattern, text)
            matched[i] += found
    # The corpus exercised both outcomes of every pattern.
    assert all(1_000 < m < 39_000 for m in matched), matched
