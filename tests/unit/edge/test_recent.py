"""The per-company memory of recent events that serves replays after short drops."""

from __future__ import annotations

import pytest

from tidewire_edge.recent import RecentRecords

pytestmark = pytest.mark.unit


def _filled(size: int, keys: list[bytes]) -> RecentRecords:
    ring = RecentRecords(size)
    for offset, key in enumerate(keys):
        ring.append(offset, key, f"{key.decode()}@{offset}".encode())
    return ring


def test_a_company_gets_only_its_records_between_the_bounds_in_order() -> None:
    ring = _filled(100, [b"a", b"b", b"a", b"c", b"a", b"b", b"a"])
    assert ring.between(b"a", 0, 6) == [(2, b"a@2"), (4, b"a@4")]
    assert ring.between(b"a", -1, 100) == [(0, b"a@0"), (2, b"a@2"), (4, b"a@4"), (6, b"a@6")]
    assert ring.between(b"b", 5, 100) == []
    assert ring.between(b"z", -1, 100) == []


def test_the_oldest_records_are_forgotten_for_every_company() -> None:
    ring = _filled(3, [b"a", b"b", b"a", b"c", b"b"])
    assert ring.first() == 2
    assert ring.between(b"a", -1, 100) == [(2, b"a@2")]
    assert ring.between(b"b", -1, 100) == [(4, b"b@4")]
    assert ring.between(b"c", -1, 100) == [(3, b"c@3")]


def test_an_empty_memory_has_no_first_offset() -> None:
    assert RecentRecords(10).first() is None
