"""The figures of `tidewire bench e2e` from the sender's answers, the sockets' tallies and CPU."""

from __future__ import annotations

import json
import math

import pytest

from tidewire_bench.e2e_results import Summary
from tidewire_bench.publish_results import Publisher, Tally

pytestmark = pytest.mark.unit


def _sender() -> Publisher:
    p = Publisher(ok=200)
    p.answered("a", [0], 200, sent_at=1_000.0, at=1_010.0)
    p.answered("b", [0], 200, sent_at=1_100.0, at=1_120.0)
    p.answered("a", [1], 500, sent_at=1_200.0, at=1_205.0)  # not accepted
    p.answered("a", [2], 200, sent_at=1_300.0, at=1_330.0)
    return p


def _tally(rows: list[tuple[int, int, int, int]], hist: dict[int, int]) -> Tally:
    return Tally(sum(hist.values()), hist, 1_050.0, 1_400.0, 0, rows)


def test_a_webhook_counts_as_accepted_only_with_a_200() -> None:
    p = _sender()
    assert (p.sent, p.accepted_count) == (4, 3)
    assert p.accepted == {"a": [0, 2], "b": [0]}
    assert dict(p.failures) == {"HTTP 500": 1}


def test_delivered_lost_and_duplicates_are_counted_against_each_sockets_company() -> None:
    # Two sockets of a, one of b: 2 × 2 + 1 = 5 deliveries expected; one socket of a missed
    # one message and got another twice.
    rows = [(2, 0, 0, 0), (1, 1, 1, 0), (1, 0, 0, 0)]
    s = Summary.of(_sender(), _tally(rows, {10: 3, 20: 2}), {"a": 2, "b": 1}, 10.0, {}, {})
    assert (s.expected, s.delivered, s.lost, s.duplicates) == (5, 4, 1, 1)
    assert s.delivered_pct == pytest.approx(80.0)
    assert s.sockets_complete == 2
    assert (s.latency.count, s.latency.p50) == (5, 10.0)


def test_cpu_per_message_is_the_whole_stacks_seconds_over_the_accepted_messages() -> None:
    stack = {"ingest": 0.03, "projector": 0.06, "kafka": 0.09}
    harness = {"sender": 0.3}
    s = Summary.of(_sender(), _tally([], {}), {"a": 1}, 10.0, stack, harness)
    assert s.stack_cpu_ms_per_message == pytest.approx(1000 * 0.18 / 3)
    assert s.per_message(0.03) == "10.00"
    cpu_row = next(r for r in s.rows() if r[0] == "stack CPU per message, ms")
    assert cpu_row[1] == "60.00 (ingest 10.00; projector 20.00; kafka 30.00)"


def test_a_run_that_accepted_nothing_saves_nulls_not_nan() -> None:
    s = Summary.of(Publisher(ok=200), _tally([], {}), {"a": 1}, 10.0, {"ingest": 1.0}, {})
    assert math.isnan(s.stack_cpu_ms_per_message)
    doc = json.loads(json.dumps(s.as_json(), allow_nan=False))
    assert doc["delivered_pct"] is None
    assert doc["stack_cpu_ms_per_message"] is None
    assert doc["latency"]["p50"] is None


def test_cpu_above_idle_takes_off_what_each_process_uses_without_webhooks() -> None:
    # Over a 2 s phase Kafka used 0.5 s but idles at 0.2 s/s (others use it too): 0.1 s is
    # this run's; ingest idles at nothing. 3 messages: (0.1 + 0.2) / 3 = 100 ms each.
    stack = {"ingest": 0.2, "kafka": 0.5}
    idle = {"ingest": 0.0, "kafka": 0.2}
    s = Summary.of(_sender(), _tally([], {}), {"a": 1}, 10.0, stack, {}, idle, phase_s=2.0)
    assert s.stack_cpu_ms_per_message == pytest.approx(700 / 3)
    assert s.stack_cpu_ms_per_message_above_idle == pytest.approx(100.0)
    assert s.idle_cpu_ms_per_s == {"ingest": 0.0, "kafka": 200.0}
