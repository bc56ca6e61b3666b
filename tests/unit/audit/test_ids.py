"""Event ids: ULIDs in monotonic order, cheap to mint."""

from __future__ import annotations

import itertools
import os
import time
from types import SimpleNamespace

import pytest

import audit.ids
from audit.ids import new_ulid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _decode(ulid: str) -> int:
    value = 0
    for char in ulid:
        value = value * 32 + _CROCKFORD.index(char)
    return value


def test_ulids_are_well_formed_carry_the_time_and_only_increase() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_ulid() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert all(len(i) == 26 and set(i) <= set(_CROCKFORD) for i in ids)
    # Strictly increasing as text and as numbers, within one millisecond and across them.
    assert ids == sorted(set(ids))
    values = [_decode(i) for i in ids]
    assert all(a < b for a, b in itertools.pairwise(values))
    assert before <= values[0] >> 80 and values[-1] >> 80 <= after
    # Within a millisecond the next id counts on by one; a new millisecond draws new randomness.
    same_ms = [(a, b) for a, b in itertools.pairwise(values) if a >> 80 == b >> 80]
    assert same_ms and all(b - a == 1 for a, b in same_ms)


def test_a_forked_child_does_not_repeat_its_parents_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    # One frozen millisecond for parent and child: without the reset at fork, both would count on
    # from the same last id and mint the same next one.
    frozen = time.time_ns()
    monkeypatch.setattr(audit.ids, "time", SimpleNamespace(time_ns=lambda: frozen))
    new_ulid()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave without running the test session's teardown
        os.close(read)
        os.write(write, new_ulid().encode())
        os._exit(0)
    os.close(write)
    parent = new_ulid()
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 26 and child != parent
    # Not merely different: the child drew its own 80 random bits rather than counting on from ours.
    assert abs(_decode(child) % (1 << 80) - _decode(parent) % (1 << 80)) > 1_000_000
