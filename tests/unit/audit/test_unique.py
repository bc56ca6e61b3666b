"""audit.translate_unique: a uniqueness violation becomes what the site says; nothing else is touched."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from audit import translate_unique


class Taken(Exception):
    pass


def _integrity(message: str) -> IntegrityError:
    return IntegrityError("INSERT …", {}, Exception(message))


@pytest.mark.parametrize(
    "message",
    [
        "UNIQUE constraint failed: log_streams.organization, log_streams.name",  # SQLite
        'duplicate key value violates unique constraint "uq_log_streams_name"',  # PostgreSQL
    ],
)
def test_a_uniqueness_violation_becomes_the_sites_error(message: str) -> None:
    with pytest.raises(Taken) as raised, translate_unique(Taken):
        raise _integrity(message)
    assert raised.value.__suppress_context__


def test_without_an_error_the_violation_is_swallowed_and_reported() -> None:
    with translate_unique() as duplicate:
        raise _integrity("UNIQUE constraint failed: audit_relay_lease.name")
    assert duplicate.violated
    with translate_unique() as clean:
        pass
    assert not clean.violated


def test_other_integrity_errors_and_other_exceptions_pass() -> None:
    with pytest.raises(IntegrityError), translate_unique(Taken):
        raise _integrity("NOT NULL constraint failed: scim_users.id")
    with pytest.raises(KeyError), translate_unique():
        raise KeyError("x")
