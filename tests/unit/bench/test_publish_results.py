"""The figures of `tidewire bench publish` from the publisher's answers and the sockets' tallies."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from tidewire_bench.publish_results import (
    Publisher,
    Summary,
    Tally,
    expected_deliveries,
)

pytestmark = pytest.mark.unit


def _tally(
    rows: list[list[int]], hist: dict[str, int], first: float | None, last: float | None
) -> dict[str, object]:
    return {
        "total": sum(hist.values()),
        "hist": hist,
        "first": first,
        "last": last,
        "disconnects": 0,
        "clients": rows,
    }


def _publisher() -> Publisher:
    p = Publisher()
    # Answers come back in any order.
    p.answered("a", [0, 1], 202, sent_at=1_000.0, at=1_010.0)
    p.answered("b", [2, 3], 0, sent_at=1_700.0, at=3_000.0)  # no answer
    p.answered("b", [0, 1], 202, sent_at=1_500.0, at=1_530.0)
    p.answered("a", [2, 3], 503, sent_at=1_600.0, at=1_605.0)
    return p


def test_the_publisher_counts_only_202s_as_accepted() -> None:
    p = _publisher()
    assert (p.requests, p.sent, p.accepted_count) == (4, 8, 4)
    assert p.accepted == {"a": [0, 1], "b": [0, 1]}
    assert p.failures == Counter({"HTTP 503": 1, "transport error": 1})
    assert (p.first_send, p.last_answer) == (1_000.0, 3_000.0)
    assert p.answer_ms == [10.0, 1_300.0, 30.0, 5.0]


def test_each_accepted_publication_is_expected_once_per_socket_of_its_company() -> None:
    assert expected_deliveries({"a": [0, 1], "b": [0, 1, 2]}, {"a": 3, "b": 2, "c": 9}) == 12
    assert expected_deliveries({"gone": [0]}, {"a": 3}) == 0


def test_tallies_of_several_node_processes_merge() -> None:
    t = Tally.merge(
        [
            _tally([[2, 0, 0, 0]], {"5": 1, "9": 1}, 1_100.0, 2_000.0),
            _tally([[1, 1, 1, 0], [3, 0, 0, 1]], {"5": 3, "40": 2}, 1_050.0, 2_500.0),
            _tally([], {}, None, None),  # a process whose sockets got nothing
        ]
    )
    assert t.total == 7
    assert t.histogram == {5: 4, 9: 1, 40: 2}
    assert (t.first, t.last) == (1_050.0, 2_500.0)
    assert t.clients == [(2, 0, 0, 0), (1, 1, 1, 0), (3, 0, 0, 1)]


def test_summary() -> None:
    # Sockets: a1, a2 of company a; b1 of company b. 2 accepted publications each: 6 expected.
    # a2 lost one and got the other twice; b1 got both, one of them twice, and one whose
    # request failed (unconfirmed): 2 + 2 + 4 deliveries.
    rows = [[2, 0, 0, 0], [1, 1, 1, 0], [3, 1, 0, 1]]
    hist = {str(v): 1 for v in (10, 20, 30, 40, 50, 60, 70, 80)}
    t = Tally.merge([_tally(rows, hist, 1_020.0, 2_000.0)])
    s = Summary.of(_publisher(), t, {"a": 2, "b": 1}, 4, {"ingest": 0.8})
    assert (s.sockets, s.companies, s.sent, s.accepted) == (3, 2, 8, 4)
    assert (s.expected, s.delivered) == (6, 8)
    assert (s.lost, s.duplicates, s.extra, s.sockets_complete) == (1, 2, 1, 1)
    assert s.accepted_per_s == 2.0  # 4 over first send 1,000 -> last answer 3,000 ms
    assert s.deliveries_per_s == 8.0  # 8 over first send 1,000 -> last delivery 2,000 ms
    assert s.publications_delivered_per_s == pytest.approx(8.0 / 1.5)  # mean fan-out 6/4
    assert (s.latency.p50, s.latency.p99, s.latency.max) == (40.0, 80.0, 80.0)
    assert (s.answer.p50, s.answer.max) == (10.0, 1_300.0)
    table = dict((str(k), str(v)) for k, v in s.rows())
    assert table["lost / duplicated / unconfirmed"] == "1 / 2 / 1"
    assert table["sockets that got everything once"] == "1 of 3"
    assert table["CPU during the phase"] == "ingest 0.8 s (200.00 ms/publication)"


def test_nothing_delivered_gives_no_rates_and_valid_json() -> None:
    p = Publisher()
    p.answered("a", [0], 202, sent_at=1_000.0, at=1_001.0)
    s = Summary.of(p, Tally.merge([_tally([[0, 0, 1, 0]], {}, None, None)]), {"a": 1}, 1)
    assert (s.lost, s.sockets_complete) == (1, 0)
    assert math.isnan(s.deliveries_per_s)
    assert math.isnan(s.latency.p50)
    doc = json.loads(json.dumps(s.as_json(), allow_nan=False))
    assert doc["deliveries_per_s"] is None
    assert doc["latency"]["p99"] is None
    assert doc["accepted_per_s"] == 1_000.0
