"""Agents' messages through the real projector and outbound sender (`tidewire outbound`, a
process of its own) to a fake WhatsApp Cloud API, statuses back.

The simulator's Cloud API stand-in (tidewire_simulator.cloud_api) plays Meta per phone number:
accept, throttle, refuse.
Each test has a tenant of its own, so its phone number's requests are the test's alone.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.support import whatsapp as wa
from tests.support.api import SECRET, Api
from tests.support.stack import Services
from tidewire_deploy.provision import provision
from tidewire_platform.acks import Ack
from tidewire_platform.contracts import Event
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.partitioning import company_key, partition_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tokens import issue_token
from tidewire_simulator.cloud_api import CloudApi, Fail, RateLimit, access_token_of

pytestmark = pytest.mark.integration


@pytest.fixture
def api(services: Services, agent_token: str, phone: str) -> Iterator[Api]:
    client = Api(services.ingest_url, agent_token, phone)
    yield client
    client.close()


def _until_message(api: Api, ticket: str, message_id: str, ok: Any, what: str) -> dict[str, Any]:
    return dict(api.until(lambda: (m := api.message(ticket, message_id)) and ok(m) and m, what, 60))


def _request(to: str, body: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    }


def _delivered(api: Api, ticket: str, message: dict[str, Any]) -> None:
    """Meta's status webhook for the wamid moves the message's ack to delivered."""
    api.deliver(statuses=[wa.status(message["wamid"], "delivered")])
    got = _until_message(api, ticket, message["id"], lambda m: m["ack"] >= Ack.DELIVERED, "ack")
    assert got["ack"] == Ack.DELIVERED


def test_accepted_message_gets_the_wamid_then_its_status(
    api: Api, graph: CloudApi, phone: str
) -> None:
    ticket = api.open_ticket("oi, preciso de ajuda")
    message_id = api.send(ticket, "Olá! Em que posso ajudar?")
    mine = _until_message(api, ticket, message_id, lambda m: m["wamid"], "the wamid")
    [seen] = graph.seen(phone)
    assert (seen.status, seen.wamid) == (200, mine["wamid"])
    assert seen.authorization == f"Bearer {access_token_of(phone)}"
    assert seen.body == _request(wa.CUSTOMER, "Olá! Em que posso ajudar?")
    assert (mine["ack"], mine["fromMe"], mine["error"]) == (Ack.PENDING, True, None)
    _delivered(api, ticket, mine)


def test_rate_limited_message_is_retried_after_retry_after(
    api: Api, graph: CloudApi, phone: str
) -> None:
    graph.behave(RateLimit(2, retry_after="1"), phone_number_id=phone)
    ticket = api.open_ticket("oi, preciso de ajuda")
    message_id = api.send(ticket, "um momento")
    mine = _until_message(api, ticket, message_id, lambda m: m["wamid"], "the wamid")
    seen = graph.seen(phone)
    assert [s.status for s in seen] == [429, 429, 200]
    assert seen[-1].wamid == mine["wamid"]
    assert {s.authorization for s in seen} == {f"Bearer {access_token_of(phone)}"}
    assert all(s.body == _request(wa.CUSTOMER, "um momento") for s in seen)
    # Retry-After: 1 was honoured (our own first backoff would be at most 0.5 s).
    gaps = [b.at - a.at for a, b in itertools.pairwise(seen)]
    assert min(gaps) >= 0.95, gaps
    _delivered(api, ticket, mine)


def test_refused_message_fails_with_graphs_reason(api: Api, graph: CloudApi, phone: str) -> None:
    graph.behave(Fail(code=131026, message="Message Undeliverable."), phone_number_id=phone)
    ticket = api.open_ticket("oi, preciso de ajuda")
    message_id = api.send(ticket, "alô?")
    mine = _until_message(api, ticket, message_id, lambda m: m["ack"] == Ack.FAILED, "ack -1")
    assert mine["error"] == "131026: Message Undeliverable."
    assert mine["wamid"] is None
    [seen] = graph.seen(phone)  # a permanent error is not retried
    assert seen.status == 400
    assert seen.body == _request(wa.CUSTOMER, "alô?")


def test_connection_without_access_token_fails_without_calling_graph(
    services: Services, graph: CloudApi
) -> None:
    company = f"co-{uuid.uuid4().hex[:12]}"
    phone = f"pn-{uuid.uuid4().hex[:10]}"
    provision(
        services.settings,
        Tenant(company, "No token"),
        Connection(company, phone, "15550002222", f"vt-{phone}", SECRET),
    )
    api = Api(services.ingest_url, issue_token(services.settings, company, "agent-1"), phone)
    try:
        ticket = api.open_ticket("oi, preciso de ajuda")
        message_id = api.send(ticket, "olá")
        mine = _until_message(api, ticket, message_id, lambda m: m["ack"] == Ack.FAILED, "ack -1")
        assert mine["error"].startswith("no-access-token: ")
        assert graph.seen(phone) == []
    finally:
        api.close()


def test_a_token_graph_does_not_know_is_refused(services: Services, graph: CloudApi) -> None:
    company = f"co-{uuid.uuid4().hex[:12]}"
    phone = f"pn-{uuid.uuid4().hex[:10]}"
    provision(
        services.settings,
        Tenant(company, "Stale token"),
        Connection(company, phone, "15550003333", f"vt-{phone}", SECRET, access_token="revoked"),
    )
    graph.connect(phone, "rotated")
    api = Api(services.ingest_url, issue_token(services.settings, company, "agent-1"), phone)
    try:
        ticket = api.open_ticket("oi, preciso de ajuda")
        message_id = api.send(ticket, "olá")
        mine = _until_message(api, ticket, message_id, lambda m: m["ack"] == Ack.FAILED, "ack -1")
        assert mine["error"] == "190: Invalid OAuth access token - Cannot parse access token"
        [seen] = graph.seen(phone)
        assert (seen.status, seen.authorization) == (401, "Bearer revoked")
    finally:
        api.close()


def test_a_throttled_graph_api_does_not_hold_up_projection(
    api: Api, graph: CloudApi, phone: str
) -> None:
    graph.behave(RateLimit(1_000, retry_after="1"), phone_number_id=phone)
    ticket = api.open_ticket("oi, preciso de ajuda")
    message_id = api.send(ticket, "aguarde")
    api.until(lambda: graph.seen(phone), "a first attempt")
    # While the outbound sender keeps waiting on Graph, commands are still projected.
    api.deliver([wa.text_message("ainda aí?")])
    api.until(
        lambda: any(
            m["body"] == "ainda aí?"
            for m in api.get(f"/api/tickets/{ticket}/messages", limit=500)["messages"]
        ),
        "the inbound message projected",
    )
    assert api.message(ticket, message_id)["wamid"] is None  # type: ignore[index]
    assert all(s.status == 429 for s in graph.seen(phone))
    graph.behave(RateLimit(0), phone_number_id=phone)  # the limit lifts
    mine = _until_message(api, ticket, message_id, lambda m: m["wamid"], "the wamid")
    assert graph.seen(phone)[-1].wamid == mine["wamid"]


def test_only_agents_messages_reach_the_outbound_topic(
    api: Api, graph: CloudApi, services: Services, company: str
) -> None:
    ticket = api.open_ticket("oi, preciso de ajuda")
    message_id = api.send(ticket, "só esta")
    _until_message(api, ticket, message_id, lambda m: m["wamid"], "the wamid")
    records = asyncio.run(_company_records(services.settings, company))
    assert [Event.from_bytes(value).payload["message"]["id"] for value in records] == [message_id]


def test_redelivered_event_is_not_sent_again(
    api: Api, graph: CloudApi, phone: str, services: Services, company: str
) -> None:
    ticket = api.open_ticket("oi, preciso de ajuda")
    first = api.send(ticket, "primeira")
    _until_message(api, ticket, first, lambda m: m["wamid"], "the first wamid")
    [created] = [
        e
        for e in api.events()
        if e["type"] == "message.created" and e["payload"]["message"]["id"] == first
    ]
    # The same outbound record once more, as after a crash before faust committed its offset.
    raw = Event.model_validate({k: v for k, v in created.items() if k != "cursor"}).to_bytes()
    asyncio.run(_append_outbound(services.settings, company, raw))
    # One company, one partition, read in order: once the next message is dispatched, the
    # redelivered record has been handled.
    second = api.send(ticket, "segunda")
    _until_message(api, ticket, second, lambda m: m["wamid"], "the second wamid")
    assert [s.body["text"]["body"] for s in graph.seen(phone)] == ["primeira", "segunda"]


async def _append_outbound(settings: StackSettings, company: str, raw: bytes) -> None:
    producer = make_producer(settings, "test")
    await producer.start()
    try:
        await append(producer, settings, settings.outbound_topic, company, raw)
    finally:
        await producer.stop()


async def _company_records(settings: StackSettings, company: str) -> list[bytes]:
    """Every record of `company` on the outbound topic, in order."""
    tp = TopicPartition(settings.outbound_topic, partition_for(company, settings.partitions))
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        found: list[bytes] = []
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if record.key == company_key(company) and record.value is not None:
                    found.append(record.value)
        return found
    finally:
        await consumer.stop()
