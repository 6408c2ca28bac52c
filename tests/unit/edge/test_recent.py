"""The per-company memory of recent events that serves replays after short drops."""

from __future__ import annotations

import pytest

from tidewire_edge.recent import RecentRecords, record_bytes

pytestmark = pytest.mark.unit


def _filled(records: int, keys: list[bytes]) -> RecentRecords:
    """A memory with room for `records` records of the kind these tests append."""
    ring = RecentRecords(records * record_bytes(b"a", b"a@0"))
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


def test_memory_is_bounded_in_bytes_whatever_the_records_count() -> None:
    """A few large records push out many small ones: the budget is bytes, not records."""
    budget = 64 * 1024
    ring = RecentRecords(budget)
    for offset in range(100):
        ring.append(offset, b"small", b"x" * 10)
    assert len(ring) == 100
    big = b"y" * (20 * 1024)
    for offset in range(100, 110):
        ring.append(offset, b"big", big)
        assert ring.bytes <= budget
    assert len(ring) == 3  # only the newest large records fit
    assert ring.first() == 107
    assert ring.between(b"small", -1, 1000) == []
    assert [o for o, _ in ring.between(b"big", -1, 1000)] == [107, 108, 109]


def test_a_record_larger_than_the_whole_budget_is_not_kept() -> None:
    ring = RecentRecords(1024)
    ring.append(0, b"a", b"x" * 10)
    ring.append(1, b"a", b"x" * 4096)
    assert (len(ring), ring.bytes, ring.first()) == (0, 0, None)
    ring.append(2, b"a", b"x" * 10)
    assert ring.between(b"a", -1, 10) == [(2, b"x" * 10)]


def test_records_after_a_gap_make_memory_forget_what_came_before() -> None:
    """A reader behind the log's retention is moved past the records it deleted: memory
    must then start after the gap, or a replay from inside it would miss them silently."""
    ring = RecentRecords(1024**2)
    for offset in [*range(10), *range(100, 105)]:
        ring.append(offset, b"a", f"a@{offset}".encode())
    assert ring.first() == 100
    assert ring.between(b"a", -1, 1000) == [(o, f"a@{o}".encode()) for o in range(100, 105)]
    assert ring.bytes == 5 * record_bytes(b"a", b"a@100")
