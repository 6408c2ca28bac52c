"""`tidewire bench peer` smoke-run at a tiny size: both systems set up by the bench itself, the
saved JSON has every figure the side-by-side table quotes, and tidewire lost and repeated
nothing, churn (drops, node switches) included. The Node.js peer's losses are its findings, not
asserted either way. No timing is asserted (speed lives in the benchmark's own runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.bench import beside, forget
from tests.support.stack import Stack

SIZE = {
    "--clients": "8",
    "--companies": "2",
    "--rate": "10",
    "--seconds": "2",
    "--churn-seconds": "4",
    "--churn-period-s": "1.5",
    "--churn-offline-s": "0.3",
    "--warmup-s": "1",
}


@pytest.mark.timeout(600)  # a first run installs the Node.js peer (npm ci)
def test_a_tiny_run_compares_both_systems_and_tidewire_loses_and_repeats_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    out = tmp_path / "peer.json"
    size = [word for pair in SIZE.items() for word in pair]
    argv = [sys.executable, "-m", "tidewire_deploy.cli", "bench", "peer", *size, "--out", str(out)]
    own = beside(stack.settings, "peer")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=560)
    finally:
        removed = forget(own)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert own.commands_topic in removed  # tidewire ran on topics of its own, now gone
    doc = json.loads(out.read_text())
    assert doc["bench"] == "peer"
    assert doc["command"].startswith("tidewire bench peer --clients 8 --companies 2 --rate 10 ")
    assert {"cpus", "cpu", "load_average", "load_average_after"} <= set(doc["machine"])
    assert set(doc["systems"]) == {"peer", "tidewire"}
    for system, phases in doc["systems"].items():
        assert set(phases) == {"fanout", "churn"}, system
        for name, p in phases.items():
            where = f"{system} {name}"
            assert p["clients"] == 8, where
            # 10/s for the phase, companies in turn, 4 clients each: every one is expected.
            assert p["accepted"] == 10 * float(
                SIZE["--seconds" if name == "fanout" else "--churn-seconds"]
            ), where
            assert p["expected"] == 4 * p["accepted"], where
            assert p["delivered"] == p["expected"] - p["lost"], where
            assert {"p50", "p99", "max", "count"} <= set(p["latency"]), where
            assert {"node", "node_broker", "all", "generator"} <= set(p["cpu_ms_per_1000"]), where
            assert sum(role == "node" for role in p["roles"].values()) == 2, where
            assert "broker" in p["roles"].values(), where
            assert "generator" in p["roles"].values(), where
        churn = phases["churn"]
        assert churn["cycles"] > 0, system
        assert churn["switched"] > 0, system  # half of the reconnects went to the other node
        assert {"p50", "p99"} <= set(churn["replay"]), system
    for name in ("fanout", "churn"):
        tw = doc["systems"]["tidewire"][name]
        assert (tw["lost"], tw["duplicates"], tw["extra"]) == (0, 0, 0), name
    tw_churn = doc["systems"]["tidewire"]["churn"]
    assert tw_churn["recovered"] == tw_churn["reconnected"] == tw_churn["cycles"]
    assert tw_churn["replay"]["count"] > 0
    assert set(doc["ratios"]) == {"fanout", "churn"}
    assert {"latency_p50", "cpu_node", "cpu_node_broker", "cpu_all"} <= set(doc["ratios"]["fanout"])
    # The report printed is the saved run's.
    assert "| measure | Node Socket.IO | tidewire | tidewire/peer |" in done.stdout
