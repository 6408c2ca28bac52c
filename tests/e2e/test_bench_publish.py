"""`tidewire bench publish` smoke-run at a tiny size: every publication accepted by
`POST /api/publish` reaches every socket of its company once, and the saved JSON has the
figures the benchmark page quotes. No timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.bench import run_bench
from tests.support.stack import Services


def test_a_tiny_run_delivers_every_publication_once_and_saves_its_figures(
    services: Services, tmp_path: Path
) -> None:
    out = tmp_path / "publish.json"
    edges = ",".join(str(p) for p in services.edge_ports)
    printed = run_bench(
        "publish",
        "--sockets",
        "4",
        "--companies",
        "2",
        "--rate",
        "10",
        "--seconds",
        "1",
        "--warmup-s",
        "0.5",
        "--api",
        services.ingest_url,
        "--edges",
        edges,
        "--timeout-s",
        "20",
        "--out",
        str(out),
    )
    doc = json.loads(out.read_text())
    assert doc["bench"] == "publish"
    assert doc["command"].startswith("tidewire bench publish --sockets 4 --companies 2 ")
    assert {"cpus", "cpu", "load_average", "load_average_after"} <= set(doc["machine"])
    summary = doc["summary"]
    # 10 publications/s for 1 s, companies in turn, each company's 2 sockets get each.
    assert (summary["sent"], summary["accepted"], summary["failures"]) == (10, 10, {})
    assert (summary["sockets"], summary["companies"]) == (4, 2)
    assert summary["expected"] == summary["delivered"] == 20
    assert (summary["lost"], summary["duplicates"], summary["extra"]) == (0, 0, 0)
    assert summary["sockets_complete"] == 4
    assert summary["disconnects"] == 0
    assert summary["latency"]["count"] == 20
    assert {"p50", "p95", "p99", "max"} <= set(summary["latency"])
    assert summary["answer"]["count"] == 10
    # ingest and both edges measured are found by their ports, whoever started them.
    edge_names = {f"edge-{port}" for port in services.edge_ports}
    assert {"ingest", *edge_names, "clients", "publisher"} <= set(summary["cpu_s"])
    assert "| lost / duplicated / unconfirmed | 0 / 0 / 0 |" in printed
