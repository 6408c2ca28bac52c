"""vegeta's targets for the ingest benchmark: each a new message, correctly signed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tidewire_bench.ingest import BENCH_SECRET
from tidewire_bench.ingest_vegeta import failures, write_targets
from tidewire_ingest.signature import signature_valid

pytestmark = pytest.mark.unit


def test_targets_are_signed_distinct_webhooks(tmp_path: Path) -> None:
    path = tmp_path / "targets.jsonl"
    write_targets(path, "http://127.0.0.1:8000/webhooks/whatsapp", 3)
    targets = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(targets) == 3
    wamids = set()
    for t in targets:
        body = base64.b64decode(t["body"])
        assert t["method"] == "POST"
        assert signature_valid(body, t["header"]["X-Hub-Signature-256"][0], BENCH_SECRET)
        wamids.add(json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
    assert len(wamids) == 3  # a repeated wamid would be a redelivery, not new load


def test_failures_name_status_codes_and_messages() -> None:
    report = {
        "status_codes": {"200": 97, "503": 2, "0": 1},
        "errors": ["503 Service Unavailable", "read: connection reset by peer"],
    }
    assert failures(report) == (
        "2× HTTP 503, 1× no answer (503 Service Unavailable; read: connection reset by peer)"
    )
    assert failures({"status_codes": {"200": 100}, "errors": []}) == ""
