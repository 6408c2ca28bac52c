"""`tidewire bench ingest` smoke-run at a tiny size, with its default driver (python): every
step's webhooks are accepted (200, so in Kafka) and none fails. No timing is asserted (speed
lives in the benchmark's own runs). The vegeta driver needs a Go build of vegeta on first use
and is not run here."""

from __future__ import annotations

from tests.support.bench import number, run_bench, tables
from tests.support.stack import Services


def test_a_tiny_run_accepts_every_webhook_of_every_step(services: Services) -> None:
    out = run_bench(
        "ingest",
        "--url",
        services.ingest_url,
        "--rates",
        "10,20",
        "--seconds",
        "1",
        "--in-flight",
        "8",
    )
    assert "driver python" in out
    [steps] = tables(out)
    assert [number(s["target/s"]) for s in steps] == [10, 20]
    for s in steps:
        assert number(s["accepted"]) == number(s["target/s"]), s  # rate × 1 s, every one 200
        assert number(s["errors"]) == 0, s
    assert "errors at" not in out
