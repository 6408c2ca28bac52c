"""`tidewire bench edge` smoke-run at a tiny size, every phase: fan-out (events appended
directly and through the projector), replay after a drop and recovery from a killed edge of
the bench's own (through its balancer). Every event reaches every client of its company once
and every client recovers with every missed event. No timing is asserted."""

from __future__ import annotations

from tests.support.bench import run_bench, tables
from tests.support.stack import Services


def test_a_tiny_run_delivers_replays_and_recovers_everything(services: Services) -> None:
    edges = ",".join(str(p) for p in services.edge_ports)
    out = run_bench(
        "edge",
        "--clients",
        "4",
        "--companies",
        "2",
        "--edges",
        edges,
        "--rate",
        "10",
        "--seconds",
        "1",
        "--warmup-s",
        "0.5",
        "--missed",
        "3",
        "--timeout-s",
        "20",
    )
    fanout, replay, kill = tables(out)
    assert [row["events via"] for row in fanout] == ["direct", "projector"]
    for row in fanout:
        # 10 events/s for 1 s, companies in turn, each company's 2 clients get each of its own.
        assert row["clients × companies"] == "4 × 2", row
        assert row["deliveries / expected"] == "20 / 20", row
        assert row["cut off"] == "0", row
    [r] = replay
    assert (r["clients dropped"], r["missed each"]) == ("4", "3")
    assert r["recovered"] == r["got all missed"] == "4 (100.0 %)"
    assert r["duplicates"] == "0"
    [k] = kill
    assert (k["clients on killed node"], k["missed each"]) == ("4", "3")
    assert k["recovered"] == k["got all missed"] == "4 (100.0 %)"
