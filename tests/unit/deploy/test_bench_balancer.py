"""The bench's balancer: the node under test first, then the others in turn."""

from __future__ import annotations

import pytest

from tidewire_deploy.bench_balancer import Balancer

pytestmark = pytest.mark.unit


def test_the_primary_comes_first_and_the_others_take_turns() -> None:
    b = Balancer([9000, 8101, 8102, 8103])
    tries = [b.candidates() for _ in range(4)]
    assert [t[0] for t in tries] == [9000] * 4
    assert [t[1] for t in tries] == [8101, 8102, 8103, 8101]
    assert all(sorted(t[1:]) == [8101, 8102, 8103] for t in tries)


def test_a_single_backend_is_always_the_one() -> None:
    b = Balancer([9000])
    assert [b.candidates() for _ in range(2)] == [[9000], [9000]]
