"""Kafka down: ingest answers 503 with Retry-After, and both ingest and edge say not ready;
once Kafka is back the same webhook is accepted. A record the producer still held when the
request timed out may reach Kafka after the broker returns: it carries the same command id as
the sender's retry, which is why command ids are derived from the source and deduplicated
downstream."""

import asyncio
import json
import os
import subprocess
import sys

import httpx

from tests.chaos.conftest import env_of
from tests.support import whatsapp as wa
from tests.support.kafka import PartitionReader
from tests.support.stack import free_port, healthy, wait_for
from tidewire_deploy import infra
from tidewire_deploy.engines import log_path
from tidewire_deploy.layout import layout_of
from tidewire_deploy.procs import Managed
from tidewire_deploy.provision import provision
from tidewire_platform.contracts import Command
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tokens import issue_publisher_token, issue_token

SECRET = "chaos-app-secret-0123456789"


def _answers(url: str, status: int) -> bool:
    """Whether `url` answers with `status` now (a process still starting refuses)."""
    try:
        return httpx.get(url, timeout=5).status_code == status
    except httpx.HTTPError:
        return False


async def _serve(own: StackSettings, module: str, port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "--port",
        str(port),
        env={**os.environ, **env_of(own)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_503_while_kafka_is_down_then_accepted_once(own: StackSettings) -> None:
    # infra and provision run their own event loops: keep them off this test's loop.
    await asyncio.to_thread(infra.up, own)
    await asyncio.to_thread(
        provision, own, Tenant("acme", "Acme"), Connection("acme", "pn-acme", None, "vt", SECRET)
    )
    port, edge_port = free_port(), free_port()
    ingest = await _serve(own, "tidewire_ingest", port)
    edge = await _serve(own, "tidewire_edge", edge_port)
    kafka = Managed(
        "kafka",
        layout_of(own.home, own.lib_dir).run,
        log_path(layout_of(own.home, own.lib_dir), "kafka"),
    )
    try:
        wait_for(lambda: healthy(port), 30, "ingest healthy")
        edge_ready = f"http://127.0.0.1:{edge_port}/readyz"
        wait_for(lambda: _answers(edge_ready, 200), 60, "edge ready")
        body = json.dumps(wa.webhook("pn-acme", messages=[wa.text_message()])).encode()
        headers = {"content-type": "application/json", "x-hub-signature-256": wa.sign(body, SECRET)}
        url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        events_url = f"http://127.0.0.1:{port}/api/events"
        agent = {"authorization": f"Bearer {issue_token(own, 'acme', 'agent')}"}
        publish_url = f"http://127.0.0.1:{port}/api/publish"
        publisher = {"authorization": f"Bearer {issue_publisher_token(own, 'backend')}"}
        # Another company's: the count of acme's commands below stays the webhook's.
        publication = {"id": "p-1", "company_id": "acme-pub", "event": "ticket", "data": 1}
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.post(url, content=body, headers=headers)).status_code == 200
            assert (await http.get(events_url, headers=agent)).status_code == 200

            kafka.kill()  # a crash, not a clean shutdown
            down = await http.post(url, content=body, headers=headers)
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"].isdigit()
            assert down.headers["content-type"] == "application/problem+json"
            # A publication is acknowledged only once Kafka has it (gateway mode).
            unpublished = await http.post(publish_url, json=publication, headers=publisher)
            assert unpublished.status_code == 503, unpublished.text
            assert unpublished.headers["retry-after"].isdigit()
            assert unpublished.headers["content-type"] == "application/problem+json"
            # Reads of the events log say "not now" too, never a 500.
            unread = await http.get(events_url, headers=agent)
            assert unread.status_code == 503, unread.text
            assert unread.headers["retry-after"].isdigit()
            assert unread.headers["content-type"] == "application/problem+json"
            ready = await http.get(f"http://127.0.0.1:{port}/readyz")
            assert ready.status_code == 503
            edge_down = await http.get(edge_ready)  # the edge is alive but cannot be fed
            assert edge_down.status_code == 503
            assert "kafka" in edge_down.json()["status"]
            assert (await http.get(f"http://127.0.0.1:{edge_port}/healthz")).status_code == 200

            await asyncio.to_thread(infra.up, own)
            wait_for(
                lambda: _answers(f"http://127.0.0.1:{port}/readyz", 200),
                60,
                "ingest ready again",
            )
            wait_for(lambda: _answers(edge_ready, 200), 60, "edge ready again")
            back = await http.post(url, content=body, headers=headers)
            assert back.status_code == 200, back.text
            published = await http.post(publish_url, json=publication, headers=publisher)
            assert published.status_code == 202, published.text
            # The log reader left mid-request by the timeout reads again.
            reread = await http.get(events_url, headers=agent)
            assert reread.status_code == 200, reread.text

            # Stopped while Kafka is down (a node drained in an outage): both processes
            # still exit, instead of waiting for ever on clients that cannot flush.
            kafka.kill()
            for proc in (ingest, edge):
                proc.terminate()
            for proc in (ingest, edge):
                await asyncio.wait_for(proc.wait(), 40)
            await asyncio.to_thread(infra.up, own)
        async with PartitionReader(own, own.commands_topic, "acme") as reader:
            reader.start_offset = 0
            reader.seek_to_start()
            records = await reader.settle(quiet_s=2.0)
        commands = {Command.from_bytes(r.value).id for r in records}
        # Before the crash one record; after recovery one more (maybe two: see the docstring),
        # and all of them are the same fact.
        assert 2 <= len(records) <= 3
        assert len(commands) == 1
    finally:
        for proc in (ingest, edge):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
