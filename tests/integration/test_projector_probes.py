"""The projector process's own /healthz, /readyz and /metrics (probes.py), on the real stack."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import whatsapp as wa
from tests.support.api import Api
from tests.support.stack import Services

pytestmark = pytest.mark.integration


def _projected(base: str) -> dict[str, float]:
    """tidewire_projector_commands_total by outcome, as Prometheus would scrape it."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "tidewire_projector_commands"
        for sample in family.samples
        if sample.name == "tidewire_projector_commands_total"
    }


def test_probes_answer_and_metrics_count_what_was_projected(services: Services, api: Api) -> None:
    base = f"http://127.0.0.1:{services.projector_port}"
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    ready = httpx.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
    before = _projected(base)

    once = wa.text_message("contado", wamid=f"wamid.metrics-{api.phone}")
    api.deliver([once])
    api.deliver([once])  # the redelivery is projected as a duplicate, not applied again

    def counted() -> dict[str, float] | None:
        now = _projected(base)
        grew = {k: now.get(k, 0.0) - before.get(k, 0.0) for k in now}
        return grew if grew.get("applied", 0) >= 1 and grew.get("duplicate", 0) >= 1 else None

    api.until(counted, "the applied and the duplicate command counted on /metrics")
    assert httpx.get(f"{base}/nowhere", timeout=5).status_code == 404
