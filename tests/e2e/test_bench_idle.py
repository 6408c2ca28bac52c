"""`tidewire bench idle` smoke-run at a tiny size: it measures every process of the stack
(its own services, both edges, the engines) and saves what the benchmark page quotes. No CPU
figure is asserted (speed lives in the benchmark's own runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.stack import Stack


def test_a_tiny_run_measures_every_process_and_saves_its_figures(
    stack: Stack, tmp_path: Path
) -> None:
    out = tmp_path / "idle.json"
    size = ["--seconds", "1", "--settle-s", "0", "--companies", "2", "--sockets", "4"]
    size += ["--warmup", "4"]
    done = subprocess.run(
        [sys.executable, "-m", "tidewire_deploy.cli", "bench", "idle", *size, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["bench"] == "idle"
    assert doc["command"].startswith("tidewire bench idle --seconds 1 --settle-s 0 ")
    assert {"cpus", "cpu", "load_average", "load_average_after"} <= set(doc["machine"])
    assert doc["seconds"] >= 1
    used = doc["stack_cpu_s"]
    assert {"ingest", "projector", "outbound", "kafka", "cassandra", "redis"} <= set(used)
    assert sum(name.startswith("edge-") for name in used) == 2
    assert all(cpu >= 0 for cpu in used.values())
    assert {"bench", "clients-0"} <= set(doc["harness_cpu_s"])
    # The report printed is the saved run's: a row per process and the stack's total.
    assert "| projector | " in done.stdout
    assert "| stack | " in done.stdout
