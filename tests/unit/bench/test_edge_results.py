"""Rows of `tidewire bench edge` from what the node clients report."""

from __future__ import annotations

import pytest

from tidewire_bench.edge_results import Delivered, Recovery, fanout_row, kill_row
from tidewire_bench.load import Paced

pytestmark = pytest.mark.unit

A, B = "http://127.0.0.1:8101", "http://127.0.0.1:8102"


def _report(
    per_url: dict[str, tuple[int, float, float]], hist: dict[str, int]
) -> dict[str, object]:
    return {
        "total": sum(c for c, _, _ in per_url.values()),
        "disconnects": 1,
        "hist": hist,
        "perUrl": {u: {"count": c, "first": f, "last": la} for u, (c, f, la) in per_url.items()},
    }


def test_reports_of_several_processes_merge() -> None:
    d = Delivered.merge(
        [
            _report({A: (100, 1000.0, 2000.0)}, {"5": 60, "9": 40}),
            _report({A: (100, 900.0, 1900.0), B: (50, 1000.0, 1500.0)}, {"5": 150}),
        ]
    )
    assert d.total == 250
    assert d.disconnects == 2
    assert d.per_url[A] == (200, 900.0, 2000.0)
    assert d.histogram == {5: 210, 9: 40}
    assert d.per_edge() == "8101: 182; 8102: 100"  # 200 over 1.1 s, 50 over 0.5 s


def test_fanout_row() -> None:
    d = Delivered.merge([_report({A: (1000, 0.0, 1000.0)}, {"2": 980, "30": 20})])
    row = fanout_row("direct", 100, 2, 50, Paced(500, 0, 10.0), 1000, d)
    assert row == [
        "direct",
        "100 × 2",
        "50 → 50",
        "1,000 / 1,000",
        "8101: 1,000",
        1,
        "2.0",
        "30.0",
        "30.0",
    ]


def test_replay_is_measured_from_each_clients_reconnect() -> None:
    rows: list[list[float | None]] = [
        [1, 1000.0, 1010.0, 1050.0, 3, 0],  # recovered, all 3 missed events
        [1, 2000.0, 2020.0, 2100.0, 3, 1],  # one duplicate: not complete
        [0, 3000.0, 3005.0, None, 0, 0],  # fresh session: nothing replayed
    ]
    r = Recovery.of(rows, missed=3)
    assert (r.clients, r.recovered, r.complete, r.duplicates) == (3, 2, 1, 1)
    assert r.to_connect.p50 == 10.0
    assert r.to_last.max == 100.0
    assert r.share(r.recovered) == "2 (66.7 %)"


def test_kill_is_measured_from_the_kill() -> None:
    rows = [[1, None, 1500.0 + i, 1600.0 + i, 2, 0] for i in range(20)]
    r = Recovery.of(rows, missed=2, origin=1000.0)
    assert r.to_connect.p50 == 509.0
    assert r.to_connect.p95 == 518.0
    row = kill_row(r, 2, 0.4)
    assert row[2] == "20 (100.0 %)"
    assert row[4] == "0.40"
