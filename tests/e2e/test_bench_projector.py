"""`tidewire bench projector` smoke-run at a tiny size against the running projector: every
pre-loaded command and every command of the steady phase comes back as exactly one event. No
timing is asserted (speed lives in the benchmark's own runs)."""

from __future__ import annotations

from tests.support.bench import number, run_bench, tables
from tests.support.stack import Services


def test_a_tiny_run_turns_every_command_into_one_event(services: Services) -> None:
    out = run_bench(
        "projector",
        "--commands",
        "40",
        "--companies",
        "4",
        "--contacts",
        "2",
        "--rate",
        "20",
        "--seconds",
        "1",
        "--stall-s",
        "20",
    )
    assert out.startswith("throughput: pre-loading 40 commands")
    throughput, lag = tables(out)
    [t] = throughput
    assert (t["commands"], t["companies × contacts"]) == ("40", "4 × 2")
    assert number(t["events"]) == 40
    assert number(t["duplicates"]) == 0
    [row] = lag
    assert row["events / sent"] == "20 / 20"
    assert "no events within" not in out
