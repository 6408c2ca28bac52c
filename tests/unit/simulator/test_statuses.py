"""The statuses an accepted message gets: WhatsApp's order, the failure share, the delays."""

from __future__ import annotations

import random

import pytest

from tidewire_simulator.statuses import UNDELIVERABLE, Delays, plan

pytestmark = pytest.mark.unit


def test_a_message_that_reaches_the_customer_is_sent_then_delivered_then_read() -> None:
    steps = plan(random.Random(1), failure_rate=0.0)
    assert [s.state for s in steps] == ["sent", "delivered", "read"]
    assert all(s.error is None for s in steps)


def test_a_failing_message_is_sent_then_failed_with_metas_undeliverable() -> None:
    steps = plan(random.Random(1), failure_rate=1.0)
    assert [(s.state, s.error) for s in steps] == [("sent", None), ("failed", UNDELIVERABLE)]


def test_about_the_failure_rate_of_messages_fail() -> None:
    rng = random.Random(7)
    failed = sum(plan(rng, failure_rate=0.1)[-1].state == "failed" for _ in range(2000))
    assert 140 < failed < 260  # 10 % of 2000, give or take four standard deviations


def test_each_wait_is_drawn_within_its_range_and_speed_divides_it() -> None:
    delays = Delays(sent=(1.0, 2.0), delivered=(3.0, 4.0), read=(5.0, 6.0))
    fast = delays.scaled(10)
    assert fast == Delays((0.1, 0.2), (0.3, 0.4), (0.5, 0.6), (0.1, 0.4))
    rng = random.Random(3)
    for _ in range(200):
        sent, delivered, read = plan(rng, 0.0, fast)
        assert 0.1 <= sent.after_s <= 0.2
        assert 0.3 <= delivered.after_s <= 0.4
        assert 0.5 <= read.after_s <= 0.6


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_a_failure_rate_outside_zero_to_one_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="failure_rate"):
        plan(random.Random(), rate)


def test_a_speed_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="speed"):
        Delays().scaled(0)
