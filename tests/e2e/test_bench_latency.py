"""`tidewire bench latency` smoke-run at a tiny size: both paths (webhook -> socket, agent
send -> its fact) at one rate, every message's event received. No timing is asserted (speed
lives in the benchmark's own runs)."""

from __future__ import annotations

from tests.support.bench import number, run_bench, tables
from tests.support.stack import Services


def test_a_tiny_run_sees_the_event_of_every_webhook_and_every_send(services: Services) -> None:
    out = run_bench(
        "latency",
        "--api",
        services.ingest_url,
        "--edge",
        services.edge_url(0),
        "--rates",
        "5",
        "--seconds",
        "1",
        "--warmup-s",
        "1",
        "--timeout-s",
        "20",
    )
    [rows] = tables(out)
    assert [(r["path"], r["rate/s"]) for r in rows] == [("webhook", "5"), ("send", "5")]
    for r in rows:
        assert number(r["sent"]) == 5, r
        assert number(r["lost"]) == 0, r
