"""The figures of `tidewire bench peer`: per-client counts against what each system accepted,
the churn's cycles, CPU per 1,000 deliveries by role, and the side-by-side rows."""

from __future__ import annotations

import math

import pytest

from tidewire_bench.peer_results import Churned, Cycle, Phase, process_rows, rows
from tidewire_bench.publish_results import Publisher, Tally

pytestmark = pytest.mark.unit

ROLES = {
    "node-a": "node",
    "node-b": "node",
    "pub": "publish",
    "redis": "broker",
    "gen": "generator",
}


def _published(accepted: dict[str, list[int]]) -> Publisher:
    p = Publisher()
    for company, numbers in accepted.items():
        p.answered(company, numbers, 202, sent_at=1_000.0, at=1_001.0)
    return p


def _tally(clients: list[list[int]], hist: dict[str, int]) -> Tally:
    return Tally.merge(
        [
            {
                "total": sum(hist.values()),
                "hist": hist,
                "first": 1_000.0,
                "last": 2_000.0,
                "disconnects": 0,
                "clients": clients,
            }
        ]
    )


def _phase(
    name: str = "fanout",
    lost: int = 0,
    cpu: dict[str, float] | None = None,
    churned: Churned | None = None,
    hist: dict[str, int] | None = None,
) -> Phase:
    # Two companies of 2 publications each, two clients each: 8 deliveries expected.
    rows_ = [[2, 0, 0, 0], [2, 1, 0, 0], [2, 0, 0, 0], [2 - lost, 0, lost, 0]]
    return Phase.of(
        name,
        _published({"a": [0, 1], "b": [0, 1]}),
        _tally(rows_, hist or {"1": 4, "3": 3, "9": 1}),
        {"a": 2, "b": 2},
        cpu if cpu is not None else {"node-a": 0.002, "node-b": 0.004, "redis": 0.001, "gen": 1},
        ROLES,
        churned,
    )


def test_deliveries_are_counted_per_client_against_what_its_company_was_sent() -> None:
    p = _phase(lost=1)
    assert (p.clients, p.accepted, p.expected) == (4, 4, 8)
    assert (p.lost, p.duplicates, p.delivered) == (1, 1, 7)
    assert (p.latency.count, p.latency.p50, p.latency.max) == (8, 1.0, 9.0)


def test_cpu_per_1000_deliveries_sums_the_processes_of_the_roles_asked_for() -> None:
    p = _phase()  # 8 deliveries
    assert p.cpu("node") == pytest.approx(0.006)
    assert p.per_1000("node") == pytest.approx(0.006 * 1e6 / 8)
    assert p.per_1000("node", "broker") == pytest.approx(0.007 * 1e6 / 8)
    assert p.per_1000_of("redis") == pytest.approx(125.0)
    # A process the run could not read (gone, or never found) counts for nothing.
    assert math.isnan(p.per_1000_of("pub"))


def test_no_delivery_gives_no_cpu_figure_rather_than_a_division_by_zero() -> None:
    p = Phase.of("fanout", Publisher(), _tally([], {}), {"a": 2}, {"node-a": 1.0}, ROLES)
    assert p.delivered == 0
    assert math.isnan(p.per_1000("node"))
    assert p.as_json()["cpu_ms_per_1000"]["node"] is None


def test_churn_cycles_give_recovery_and_replay_from_each_reconnect_call() -> None:
    churned = Churned.merge(
        [
            {
                "cycles": [
                    # drop, reconnect, connect, recovered, switched, last missed arrived
                    [0.0, 2_000.0, 2_008.0, 1, 1, 2_010.0],
                    [0.0, 2_000.0, 2_004.0, 1, 0, 2_030.0],
                ],
                "connectErrors": 1,
                "unplanned": 0,
            },
            {
                "cycles": [
                    [0.0, 2_000.0, 2_005.0, 0, 0, None],  # back, not recovered, nothing replayed
                    [0.0, 2_000.0, None, 0, 1, None],  # never came back
                ],
                "connectErrors": 0,
                "unplanned": 2,
            },
        ]
    )
    assert churned.cycles[0] == Cycle(0.0, 2_000.0, 2_008.0, True, True, 2_010.0)
    p = _phase("churn", churned=churned)
    assert (p.cycles, p.reconnected, p.recovered, p.switched) == (4, 3, 2, 1)
    assert (p.connect_errors, p.unplanned) == (1, 2)
    assert (p.replay.count, p.replay.p50, p.replay.max) == (2, 10.0, 30.0)
    assert (p.to_connect.count, p.to_connect.p50, p.to_connect.max) == (3, 5.0, 8.0)


def test_the_side_by_side_rows_show_both_systems_and_tidewire_over_the_peer() -> None:
    peer = {"fanout": _phase(lost=1, hist={"1": 8})}
    tw = {
        "fanout": _phase(
            cpu={"node-a": 0.006, "node-b": 0.006, "redis": 0.002, "gen": 1}, hist={"4": 8}
        )
    }
    table = {row[0]: row[1:] for row in rows(peer, tw)}
    assert table["fan-out: delivered"][:2] == [
        "87.500 %, 1 lost, 1 duplicates",
        "100 %, 0 lost, 1 duplicates",
    ]
    assert table["fan-out: latency p50 / p99 ms"] == ["1.0 / 1.0", "4.0 / 4.0", "4.0× / 4.0×"]
    # Per 1,000 deliveries: the peer 6 ms of node CPU over 7 deliveries, tidewire 12 over 8.
    node = table["fan-out: node CPU per 1,000 deliveries (each node)"]
    assert node == ["857 ms (286 + 571)", "1,500 ms (750 + 750)", "1.8×"]
    assert table["fan-out: with the broker (Redis / Kafka + Redis)"][2] == "1.8×"
    assert not any(label.startswith("churn") for label in table)


def test_a_ratio_over_nothing_is_a_dash() -> None:
    peer = {"fanout": _phase(cpu={"node-a": 0.0, "node-b": 0.0})}
    tw = {"fanout": _phase()}
    table = {row[0]: row[1:] for row in rows(peer, tw)}
    assert table["fan-out: node CPU per 1,000 deliveries (each node)"][2] == "–"


def test_every_process_is_listed_with_its_role() -> None:
    listed = process_rows({"peer": {"fanout": _phase()}})
    assert ["peer", "fanout", "redis (broker)", "0.00", "125 ms"] in listed
    assert len(listed) == 4


def test_the_saved_json_has_the_derived_figures_and_no_nan() -> None:
    doc = _phase("churn", churned=Churned([])).as_json()
    assert doc["delivered"] == 8
    assert set(doc["cpu_ms_per_1000"]) >= {"node", "node_broker", "all", "generator"}
    assert doc["replay"]["p50"] is None  # no cycles: nothing replayed, null not NaN


def test_publications_refused_by_tidewire_are_shown_and_not_expected() -> None:
    published = _published({"a": [0, 1]})
    published.answered("a", [2], 503, sent_at=1_000.0, at=1_002.0)
    p = Phase.of("fanout", published, _tally([[2, 0, 0, 0]], {"1": 2}), {"a": 1}, {}, ROLES)
    assert (p.sent, p.accepted, p.expected, p.failures) == (3, 2, 2, {"HTTP 503": 1})
    table = {row[0]: row[1:] for row in rows({"fanout": p}, {"fanout": p})}
    assert table["fan-out: clients, publications accepted"][0] == "1, 2 of 3 (1× HTTP 503)"
