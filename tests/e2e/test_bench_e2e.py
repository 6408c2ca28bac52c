"""`tidewire bench e2e` smoke-run at a tiny size: every webhook reaches every socket of its
company once, and the saved JSON has the figures the benchmark page quotes. The topics and
keyspace of the bench's own stack are removed afterwards. No timing is asserted (speed lives
in the benchmark's own runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.bench import beside, forget
from tests.support.stack import Stack


def test_a_tiny_run_delivers_every_webhook_once_and_saves_its_figures(
    stack: Stack, tmp_path: Path
) -> None:
    out = tmp_path / "e2e.json"
    size = [
        "--rate",
        "4",
        "--seconds",
        "2",
        "--warmup-s",
        "1",
        "--idle-s",
        "1",
        "--companies",
        "2",
        "--sockets",
        "4",
    ]
    argv = [sys.executable, "-m", "tidewire_deploy.cli", "bench", "e2e", *size, "--out", str(out)]
    own = beside(stack.settings, "e2e")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=280)
    finally:
        removed = forget(own)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert own.commands_topic in removed  # the bench ran on topics of its own, now gone
    doc = json.loads(out.read_text())
    assert doc["bench"] == "e2e"
    assert doc["command"].startswith("tidewire bench e2e --rate 4 --seconds 2 ")
    assert {"cpus", "cpu", "load_average"} <= set(doc["machine"])
    summary = doc["summary"]
    # 4 webhooks/s for 2 s, to 2 companies in turn, each with 2 sockets (one per edge).
    assert (summary["sent"], summary["accepted"], summary["failures"]) == (8, 8, {})
    assert (summary["sockets"], summary["companies"]) == (4, 2)
    assert summary["expected"] == summary["delivered"] == 16
    assert (summary["lost"], summary["duplicates"], summary["extra"]) == (0, 0, 0)
    assert summary["delivered_pct"] == 100
    assert summary["sockets_complete"] == 4
    assert summary["latency"]["count"] == 16
    assert {"p50", "p95", "p99", "max"} <= set(summary["latency"])
    services = {"ingest", "projector", "outbound", "kafka", "cassandra", "redis"}
    assert services <= set(summary["stack_cpu_s"])
    assert sum(name.startswith("edge-") for name in summary["stack_cpu_s"]) == 2
    assert summary["stack_cpu_ms_per_message"] > 0
    assert set(summary["idle_cpu_ms_per_s"]) == set(summary["stack_cpu_s"])
    assert summary["stack_cpu_ms_per_message_above_idle"] is not None
    assert {"sender", "clients-0"} <= set(summary["harness_cpu_s"])
    # The report printed is the saved run's.
    assert "| lost / duplicated / unconfirmed | 0 / 0 / 0 |" in done.stdout
