"""`tidewire simulate` against the test stack: it provisions the demo company, its customers'
messages come in through ingest's signed webhook path and show in the demo agent's API, its
Graph API stand-in accepts the demo number's sends, and it stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import Api
from tests.support.stack import Services, free_port, wait_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token
from tidewire_simulator.customers import crowd
from tidewire_simulator.simulation import DEMO


@pytest.fixture
def simulator(services: Services) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    argv = [sys.executable, "-m", "tidewire_deploy.cli", "simulate", "--rate", "5"]
    argv += ["--customers", "2", "--port", str(port), "--ingest-url", services.ingest_url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_simulate_feeds_the_demo_company_through_the_webhook_path(
    services: Services,
    settings: StackSettings,
    simulator: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = simulator
    api = Api(services.ingest_url, issue_token(settings, DEMO.company_id, "agent-1"))
    customers = {c.wa_id for c in crowd(DEMO.company_id, 2)}

    def messages() -> int:
        """Messages of the demo company so far (only this simulator writes to it here)."""
        if proc.poll() is not None:
            raise AssertionError(f"tidewire simulate exited: {proc.communicate()[0]}")
        return sum(e["type"] == "message.created" for e in api.events())

    before = messages()
    wait_for(lambda: messages() >= before + 5, 60, "five simulated messages")

    # Its Graph API stand-in knows the demo number by the demo connection's token.
    to = next(iter(customers))
    send = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hi"}}
    url = f"http://127.0.0.1:{port}/v21.0/{DEMO.phone_number_id}/messages"
    ok = httpx.post(url, json=send, headers={"Authorization": f"Bearer {DEMO.access_token}"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["messages"][0]["id"].startswith("wamid.")
    refused = httpx.post(url, json=send, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "simulator: Graph API at" in out
    assert ", 0 given up)" in out
    api.close()
