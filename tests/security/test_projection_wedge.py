"""One tenant's facts can never stop projection for the others.

The attack: a customer (or a tenant forging its own signed webhooks) sends a profile name of
~585 KB, then a ~293 KB text. Each command is under ingest's limits, but the event of the
second one embeds the name, the text and the ticket's copy of the text: ~1.17 MB, more than
a Kafka record may hold. Before the fix the projector retried that batch for ever, and with it
every tenant sharing the projector. Now every field is bounded (truncated and marked), and an
event that still cannot be written is dead-lettered with its reason while the partition flows.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.support import whatsapp as wa
from tests.support.api import SECRET, Api
from tests.support.stack import Services
from tidewire_deploy.provision import provision
from tidewire_platform import limits
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.security

# Another tenant's message must show within this; before the fix it never did.
_FLOWS_WITHIN_S = 30.0


@pytest.fixture
def other(services: Services) -> Iterator[Api]:
    """A second tenant, with its own WhatsApp number, sharing the stack with `api`'s."""
    company, phone = f"co-{uuid.uuid4().hex[:12]}", f"pn-{uuid.uuid4().hex[:10]}"
    provision(
        services.settings,
        Tenant(company, "Other company"),
        Connection(company, phone, "15550002222", f"vt-{phone}", SECRET),
    )
    client = Api(services.ingest_url, issue_token(services.settings, company, "agent-1"), phone)
    yield client
    client.close()


def _flows(api: Api, body: str) -> None:
    """`api`'s tenant gets a customer's message, and both its read model and its event (what
    sockets and catch-up reads deliver) show it in time."""
    api.deliver([wa.text_message(body, sender="5511900000777")])
    api.until(
        lambda: any(t["lastMessage"] == body for t in api.tickets("pending")),
        f"another tenant's ticket with {body!r}",
        timeout=_FLOWS_WITHIN_S,
    )
    api.until(
        lambda: any(
            e["type"] == "message.created" and e["payload"]["message"]["body"] == body
            for e in api.events()
        ),
        f"another tenant's event with {body!r}",
        timeout=_FLOWS_WITHIN_S,
    )


def _messages(api: Api, ticket_id: str, count: int) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        got = api.get(f"/api/tickets/{ticket_id}/messages", limit=50)["messages"]
        return got if len(got) >= count else None

    return api.until(probe, f"{count} messages")  # type: ignore[no-any-return]


def test_a_huge_profile_name_and_text_wedge_nobody(api: Api, other: Api) -> None:
    name, text = "N" * 585_000, "y" * 293_000
    api.deliver([wa.text_message("hi")], contacts=[wa.contact(wa.CUSTOMER, name)])
    # No contacts[] this time: the name of the first webhook is what the event would embed.
    api.deliver([wa.text_message(text)], contacts=[])
    [ticket] = api.until(lambda: api.tickets("pending"), "the attacker's own ticket")
    first, second = _messages(api, ticket["id"], 2)  # the second's batch is the one that wedged

    _flows(other, "still flowing")

    assert first["truncated"] == ["contact_name"]
    assert second["body"] == text[: limits.TEXT_BODY_CHARS]
    assert second["truncated"] == ["body"]
    view = api.get(f"/api/tickets/{ticket['id']}")
    assert view["contact"]["name"] == name[: limits.PROFILE_NAME_CHARS]
    assert len(view["ticket"]["lastMessage"]) == limits.TEXT_BODY_CHARS


@pytest.fixture
def small_events(services: Services) -> Iterator[int]:
    """The test's projector restarted with a tiny event limit (so an ordinary long text
    makes an event too big to write), then restored."""
    limit = 8_000
    knob = "TIDEWIRE_PROJECTOR_MAX_EVENT_BYTES"

    def restart() -> None:
        services.procs["projector"].stop(grace_s=10)
        services.start("projector")

    services.env[knob] = str(limit)
    restart()
    try:
        yield limit
    finally:
        del services.env[knob]
        restart()


@pytest.fixture
async def dead_letters(services: Services) -> AsyncIterator[AIOKafkaConsumer]:
    """A reader of the dead-letter topic from its current end."""
    s = services.settings
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(s.deadletter_topic, p) for p in range(s.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, ends[tp])
        yield consumer
    finally:
        await consumer.stop()


async def _dead_letter_of(
    consumer: AIOKafkaConsumer, body: str
) -> list[tuple[dict[str, Any], str]]:
    """The dead letters of commands whose text is `body`, with their `error` header."""
    found: list[tuple[dict[str, Any], str]] = []
    deadline = asyncio.get_running_loop().time() + _FLOWS_WITHIN_S
    while not found and asyncio.get_running_loop().time() < deadline:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for r in records:
                command = json.loads(r.value) if r.value else {}
                if command.get("payload", {}).get("body") == body:
                    found.append((command, dict(r.headers)["error"].decode()))
    return found


async def test_an_event_too_big_to_write_is_dead_lettered_and_the_partition_flows(
    api: Api, other: Api, small_events: int, dead_letters: AIOKafkaConsumer
) -> None:
    # Within every field bound, but its event (text, ticket preview, contact) is over 8,000.
    text = "z" * limits.TEXT_BODY_CHARS
    await asyncio.to_thread(api.deliver, [wa.text_message(text)])
    found = await _dead_letter_of(dead_letters, text)
    assert found, "the command whose event is too big was not dead-lettered"
    await asyncio.to_thread(_flows, other, "after the oversize event")  # a later batch
    [(command, error)] = found
    assert command["type"] == "message.inbound"
    assert "message.created" in error
    assert f"{small_events:,} bytes" in error
    # Dead-lettered whole: its read models were not written either.
    assert not [t for t in api.tickets("pending") if t["lastMessage"] == text]


@pytest.fixture
async def small_events_topic(services: Services) -> AsyncIterator[int]:
    """The events topic of the test's stack refusing records over 8,000 bytes (a broker or
    topic configured under the projector's own limit), then as `migrate` made it."""
    s, limit = services.settings, 8_000
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    await admin.start()
    # AlterConfigs sets a topic's whole dynamic configuration: retention.ms is restated.
    retention = {"retention.ms": str(s.events_retention_ms)}

    async def configure(configs: dict[str, str]) -> None:
        topic = ConfigResource(ConfigResourceType.TOPIC, s.events_topic, configs)
        await admin.alter_configs([topic])

    try:
        await configure({**retention, "max.message.bytes": str(limit)})
        yield limit
    finally:
        await configure(retention)
        await admin.close()


async def test_an_event_the_broker_refuses_is_dead_lettered_and_the_partition_flows(
    api: Api, other: Api, small_events_topic: int, dead_letters: AIOKafkaConsumer
) -> None:
    text = "w" * limits.TEXT_BODY_CHARS  # its event: ~10 KB, under the projector's limit
    await asyncio.to_thread(api.deliver, [wa.text_message(text)])
    # Read models are written before events are appended: once its ticket shows, the batch
    # that appends the refused event is under way, and the next message is in a later one.
    await asyncio.to_thread(api.until, lambda: api.tickets("pending"), "the refused one's ticket")
    await asyncio.to_thread(_flows, other, "after the refused event")

    found = await _dead_letter_of(dead_letters, text)
    assert found, "the command whose event the broker refused was not dead-lettered"
    [(command, error)] = found
    assert command["type"] == "message.inbound"
    assert "event refused" in error
    assert "MessageSizeTooLarge" in error
