"""Agent commands and refusals of the real ingest, against a hostile or clumsy client.

- A PATCH or `/read` sent twice against the same ticket (double click, retry after a lost
  answer) is one command, with or without a client key, while the same request after the
  ticket changed is a new one.
- A 503 says what failed in the API's terms, never which host or address.
- A forged tickets page cursor is a 400 for its sender and costs other tenants nothing (it
  used to make Cassandra drop ingest's connection: every tenant's reads were 503 for seconds).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import whatsapp as wa
from tests.support.api import Api
from tests.support.kafka import PartitionReader
from tests.support.stack import Services, free_port, healthy, wait_for
from tidewire_platform.contracts import Command
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token


def _ticket(api: Api, ticket_id: str) -> dict[str, Any]:
    return dict(api.get(f"/api/tickets/{ticket_id}")["ticket"])


def _events_of(api: Api, ticket_id: str, name: str) -> list[dict[str, Any]]:
    return [e for e in api.events() if e["type"] == name and e["ticket_id"] == ticket_id]


async def test_a_repeated_patch_or_read_is_one_command(
    services: Services, company: str, api: Api
) -> None:
    """Sent twice against the same ticket state (the projector stopped meanwhile, so the
    state cannot change between them): one command each, one event each."""
    ticket = await asyncio.to_thread(api.open_ticket)
    assert _ticket(api, ticket)["unreadMessages"] == 1

    def twice() -> list[str]:
        ids = []
        for _ in "12":
            for resp in (
                api.http.patch(f"/api/tickets/{ticket}", json={"status": "open"}),
                api.http.post(f"/api/tickets/{ticket}/read"),
            ):
                assert resp.status_code == 202, resp.text
                ids.append(resp.json()["command_id"])
        return ids

    await asyncio.to_thread(services.procs["projector"].stop, 10)
    try:
        s = services.settings
        async with PartitionReader(s, s.commands_topic, company) as reader:
            patch_1, read_1, patch_2, read_2 = await asyncio.to_thread(twice)
            records = await reader.read(4)
    finally:
        await asyncio.to_thread(services.start, "projector")
    assert (patch_1, read_1) == (patch_2, read_2)
    commands = [Command.from_bytes(r.value) for r in records]
    assert [(c.type, c.id) for c in commands] == [
        ("ticket.update", patch_1),
        ("ticket.read", read_1),
    ] * 2  # a retry is appended again, with its id: the projector keeps the first
    api.until(lambda: _ticket(api, ticket)["status"] == "open", "the ticket open")
    api.until(lambda: _ticket(api, ticket)["unreadMessages"] == 0, "the ticket read")

    # Once the ticket changed, the same request is a request again (a change after a
    # change), not a retry: a new command, and the ticket follows it.
    api.http.patch(f"/api/tickets/{ticket}", json={"status": "pending"})
    api.until(lambda: _ticket(api, ticket)["status"] == "pending", "the ticket pending")
    again = api.http.patch(f"/api/tickets/{ticket}", json={"status": "open"})
    assert again.json()["command_id"] != patch_1
    api.until(lambda: _ticket(api, ticket)["status"] == "open", "the ticket open again")
    api.deliver([wa.text_message("one more", wamid="wamid.one-more")])
    api.until(lambda: _ticket(api, ticket)["unreadMessages"] == 1, "a new unread message")
    later = api.http.post(f"/api/tickets/{ticket}/read")
    assert later.json()["command_id"] != read_1
    api.until(lambda: _ticket(api, ticket)["unreadMessages"] == 0, "the ticket read again")
    # Read models are written before events are appended: wait for the last read's event.
    api.until(lambda: len(_events_of(api, ticket, "ticket.read")) >= 2, "the second read event")
    updated = [e["payload"]["ticket"]["status"] for e in _events_of(api, ticket, "ticket.updated")]
    assert updated == ["open", "pending", "open"]
    assert len(_events_of(api, ticket, "ticket.read")) == 2

    # A client key names the command whatever the ticket looks like meanwhile.
    keyed = [
        api.http.patch(
            f"/api/tickets/{ticket}", json={"queue_id": q}, headers={"Idempotency-Key": "k-1"}
        )
        for q in ("q-1", "q-2")
    ]
    assert keyed[0].json()["command_id"] == keyed[1].json()["command_id"]


@pytest.fixture
def unreachable_engines(settings: StackSettings) -> Iterator[tuple[str, str]]:
    """An ingest of its own whose Kafka and Cassandra ports have nobody listening; its URL
    and the dead port (which no answer may name)."""
    port, dead = free_port(), free_port()
    env = {**os.environ, "TIDEWIRE_KAFKA_PORT": str(dead), "TIDEWIRE_CASSANDRA_PORT": str(dead)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidewire_ingest", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: healthy(port) or proc.poll() is not None, 60, "ingest healthy")
        assert proc.poll() is None, "ingest died at start-up"
        yield f"http://127.0.0.1:{port}", str(dead)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_503_bodies_name_no_host(
    settings: StackSettings, unreachable_engines: tuple[str, str]
) -> None:
    url, dead_port = unreachable_engines
    token = issue_token(settings, "co-any", "agent-1")
    webhook = json.dumps(wa.webhook("pn-any", messages=[wa.text_message()])).encode()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        answers = [
            c.get("/api/tickets"),  # Cassandra
            c.get("/api/events/head"),  # Kafka
            c.post(  # Cassandra (the tenant of the number)
                "/webhooks/whatsapp",
                content=webhook,
                headers={"x-hub-signature-256": wa.sign(webhook, "any-secret")},
            ),
        ]
    for resp in answers:
        assert resp.status_code == 503, resp.text
        assert resp.headers["retry-after"] == "5"
        problem = resp.json()
        text = f"{problem['title']} {problem['detail']}"
        for internal in ("127.0.0.1", "localhost", dead_port, "Error", "(", "'"):
            assert internal not in text, (internal, text)


def test_a_forged_page_cursor_costs_other_tenants_nothing(
    services: Services, settings: StackSettings
) -> None:
    hostile = Api(services.ingest_url, issue_token(settings, "co-hostile", "agent-1"))
    other = Api(services.ingest_url, issue_token(settings, "co-bystander", "agent-1"))
    try:
        for forged in ("AAAA", "AQID", "zz", "AAAA.AAAA"):
            resp = hostile.http.get("/api/tickets", params={"cursor": forged})
            assert resp.status_code == 400, resp.text
            assert resp.json()["title"] == "Bad cursor"
            after = other.http.get("/api/tickets", params={"status": "open"})
            assert after.status_code == 200, after.text
    finally:
        hostile.close()
        other.close()
