"""Commands through the real projector into Cassandra read models, events and the query API."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.support import whatsapp as wa
from tests.support.api import Api
from tests.support.kafka import PartitionReader, expire_events
from tests.support.stack import Services
from tidewire_platform.acks import Ack
from tidewire_platform.contracts import Command
from tidewire_platform.cursor import Cursor
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.integration


def _pending(api: Api, count: int) -> list[dict[str, Any]]:
    return api.until(lambda: (t := api.tickets("pending")) and len(t) >= count and t, "tickets")


def _messages(api: Api, ticket_id: str, count: int) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        got = api.get(f"/api/tickets/{ticket_id}/messages", limit=500)["messages"]
        return got if len(got) >= count else None

    return api.until(probe, f"{count} messages")


async def _command(settings: StackSettings, command: Command | bytes, company: str) -> None:
    """Append to the commands log directly, as the outbound sender (or a broken client) would."""
    producer = make_producer(settings, "test")
    await producer.start()
    try:
        raw = command.to_bytes() if isinstance(command, Command) else command
        await append(producer, settings, settings.commands_topic, company, raw)
    finally:
        await producer.stop()


def _has_body(events: list[dict[str, Any]], body: str) -> bool:
    return any((e["payload"].get("message") or {}).get("body") == body for e in events)


def test_inbound_messages_make_one_pending_ticket_with_its_messages(api: Api) -> None:
    api.deliver([wa.text_message("oi"), wa.media_message("image", caption="foto")])
    api.deliver([wa.text_message("alguém aí?")])
    [ticket] = _pending(api, 1)
    messages = _messages(api, ticket["id"], 3)
    assert [m["body"] for m in messages] == ["oi", "foto", "alguém aí?"]
    assert messages[1]["kind"] == "image"
    assert messages[1]["media"]["id"] == "1234567890123456"
    assert [m["position"] for m in messages] == sorted(m["position"] for m in messages)
    final = api.until(
        lambda: (
            (t := api.get(f"/api/tickets/{ticket['id']}")["ticket"])["unreadMessages"] == 3 and t
        ),
        "unread 3",
    )
    assert final["lastMessage"] == "alguém aí?"
    view = api.get(f"/api/tickets/{ticket['id']}")
    assert view["contact"]["id"] == wa.CUSTOMER

    # Read models are written before events are appended: wait for the last message's event.
    def three_created() -> list[dict[str, Any]] | None:
        created = [e for e in api.events() if e["type"] == "message.created"]
        return created if len(created) >= 3 else None

    created = api.until(three_created, "three message events")
    assert [e["payload"]["message"]["id"] for e in created] == [m["id"] for m in messages]


def test_redelivered_webhook_yields_one_message_and_one_event(api: Api) -> None:
    first = wa.text_message("uma vez", wamid="wamid.dup-1")
    api.deliver([first])
    api.deliver([first])  # Meta's at-least-once redelivery
    api.deliver([wa.text_message("marker")])
    [ticket] = _pending(api, 1)
    messages = _messages(api, ticket["id"], 2)
    assert [m["body"] for m in messages] == ["uma vez", "marker"]
    # Read models are written before events are appended: wait for the marker's event.
    events = api.until(lambda: (e := api.events()) and _has_body(e, "marker") and e, "marker")
    assert [e["payload"]["message"]["body"] for e in events] == ["uma vez", "marker"]


def test_a_client_key_is_scoped_to_its_ticket(api: Api) -> None:
    """Clients that number their messages per conversation reuse keys across tickets: the
    same key on another ticket is another message, not a retry to discard."""
    api.deliver([wa.text_message("um", sender="5511911110001")])
    api.deliver([wa.text_message("dois", sender="5511911110002")])
    tickets = [t["id"] for t in _pending(api, 2)]
    ids = set()
    for ticket_id in tickets:
        resp = api.http.post(
            f"/api/tickets/{ticket_id}/messages", json={"client_message_id": "1", "body": ticket_id}
        )
        assert resp.status_code == 202, resp.text
        ids.add(resp.json()["command_id"])
    assert len(ids) == 2
    for ticket_id in tickets:
        mine = [m for m in _messages(api, ticket_id, 2) if m["fromMe"]]
        assert [m["body"] for m in mine] == [ticket_id]


def test_agent_message_statuses_are_monotonic(api: Api) -> None:
    api.deliver([wa.text_message("preciso de ajuda")])
    [ticket] = _pending(api, 1)
    resp = api.http.post(
        f"/api/tickets/{ticket['id']}/messages", json={"client_message_id": "k1", "body": "olá!"}
    )
    assert resp.status_code == 202, resp.text
    message_id = resp.json()["command_id"]
    # Retried by the browser: same command id, nothing new downstream.
    again = api.http.post(
        f"/api/tickets/{ticket['id']}/messages", json={"client_message_id": "k1", "body": "olá!"}
    )
    assert again.json()["command_id"] == message_id
    # The outbound sender sends it to the (fake) Graph API and records the wamid it names.
    wamid = api.until(
        lambda: next(
            (m["wamid"] for m in _messages(api, ticket["id"], 2) if m["id"] == message_id), None
        ),
        "the wamid",
    )
    api.deliver(statuses=[wa.status(wamid, "read")])
    api.deliver(statuses=[wa.status(wamid, "delivered")])  # late, out of order
    api.deliver(statuses=[wa.status(wamid, "read")])  # duplicate
    api.deliver([wa.text_message("marker")])
    messages = _messages(api, ticket["id"], 3)
    mine = next(m for m in messages if m["id"] == message_id)
    assert (mine["ack"], mine["wamid"], mine["fromMe"]) == (Ack.READ, wamid, True)
    # Read models are written before events are appended: the marker's event comes after
    # every status's.
    events = api.until(lambda: (e := api.events()) and _has_body(e, "marker") and e, "marker")
    updates = [e["payload"]["message"]["ack"] for e in events if e["type"] == "message.updated"]
    assert updates == [Ack.PENDING, Ack.READ]  # wamid recorded, then read; nothing after
    assert Ack.DELIVERED not in updates
    created = [e for e in events if e["type"] == "message.created"]
    assert len([e for e in created if e["payload"]["message"]["id"] == message_id]) == 1


def test_ticket_update_and_read(api: Api) -> None:
    api.deliver([wa.text_message("a"), wa.text_message("b")])
    [ticket] = _pending(api, 1)
    api.until(
        lambda: api.get(f"/api/tickets/{ticket['id']}")["ticket"]["unreadMessages"] == 2, "unread 2"
    )
    resp = api.http.patch(
        f"/api/tickets/{ticket['id']}",
        json={"status": "open", "user_id": "agent-1", "queue_id": "sales"},
    )
    assert resp.status_code == 202, resp.text
    assert api.http.post(f"/api/tickets/{ticket['id']}/read").status_code == 202
    [opened] = api.until(lambda: api.tickets("open"), "open ticket")
    api.until(
        lambda: api.get(f"/api/tickets/{ticket['id']}")["ticket"]["unreadMessages"] == 0, "read"
    )
    assert (opened["userId"], opened["queueId"]) == ("agent-1", "sales")
    assert api.tickets("pending") == []
    # Read models are written before events are appended: wait for the read's event.
    events = api.until(
        lambda: (e := api.events()) and any(x["type"] == "ticket.read" for x in e) and e,
        "the read event",
    )
    types = [e["type"] for e in events]
    assert types == ["message.created", "message.created", "ticket.updated", "ticket.read"]
    bad = api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "archived"})
    assert bad.status_code == 422
    empty = api.http.patch(f"/api/tickets/{ticket['id']}", json={})
    assert empty.status_code == 422
    typo = api.http.patch(f"/api/tickets/{ticket['id']}", json={"asignee": "agent-2"})
    assert typo.status_code == 422
    assert [e["loc"][-1] for e in typo.json()["errors"]] == ["asignee"]
    # A Whaticket front end's body: camelCase names and fields of its own.
    whaticket = {"userId": "agent-2", "status": "open", "useIntegration": False}
    assert api.http.put(f"/api/tickets/{ticket['id']}", json=whaticket).status_code == 202
    api.until(
        lambda: api.get(f"/api/tickets/{ticket['id']}")["ticket"]["userId"] == "agent-2",
        "the ticket assigned through Whaticket's PUT",
    )


async def test_another_companys_ticket_is_not_found(
    api: Api, services: Services, company: str
) -> None:
    api.deliver([wa.text_message("segredo")])
    [ticket] = _pending(api, 1)
    stranger_company = f"co-{uuid.uuid4().hex[:12]}"
    stranger = issue_token(services.settings, stranger_company, "intruder")
    other = Api(services.ingest_url, stranger)
    s = services.settings
    try:
        tid = ticket["id"]
        async with (
            PartitionReader(s, s.commands_topic, company) as mine,
            PartitionReader(s, s.commands_topic, stranger_company) as theirs,
        ):
            for resp in (
                other.http.get(f"/api/tickets/{tid}"),
                other.http.get(f"/api/tickets/{tid}/messages"),
                other.http.post(
                    f"/api/tickets/{tid}/messages", json={"client_message_id": "x", "body": "hi"}
                ),
                other.http.patch(f"/api/tickets/{tid}", json={"status": "closed"}),
                other.http.post(f"/api/tickets/{tid}/read"),
            ):
                assert resp.status_code == 404, resp.text
                assert resp.headers["content-type"] == "application/problem+json"
            written = (await mine.settle(quiet_s=1.0), await theirs.settle(quiet_s=0.2))
        assert written == ([], [])  # no command reached either company's history
        assert other.events() == []
        assert other.tickets("pending") == []
    finally:
        other.close()


def test_events_paging_returns_each_event_once_in_order(api: Api) -> None:
    for n in range(7):
        api.deliver([wa.text_message(f"m{n}")])
    api.until(lambda: len(api.events()) == 7, "7 events")
    everything = api.events()
    paged = api.events(limit=2)
    assert [e["id"] for e in paged] == [e["id"] for e in everything]
    assert len({e["id"] for e in paged}) == 7
    positions = [Cursor.decode(e["cursor"]).offset for e in everything]
    assert positions == sorted(positions)
    after_third = api.events(after=everything[2]["cursor"])
    assert [e["id"] for e in after_third] == [e["id"] for e in everything[3:]]
    # `?after=` with no value reads from the oldest retained, like no `after` at all.
    first = api.get("/api/events", after="", limit=3)
    assert first == api.get("/api/events", limit=3)


def test_the_head_is_where_the_next_events_begin(api: Api) -> None:
    api.deliver([wa.text_message("before")])
    api.until(lambda: len(api.events()) == 1, "the first event")
    head = api.get("/api/events/head")["cursor"]
    assert api.events(after=head) == []  # nothing of the company after the head yet
    api.deliver([wa.text_message("after")])
    later = api.until(lambda: api.events(after=head), "the event after the head")
    assert [e["payload"]["message"]["body"] for e in later] == ["after"]


def test_bad_and_stale_cursors(api: Api, services: Services, company: str) -> None:
    api.deliver([wa.text_message("x")])
    api.deliver([wa.text_message("y")])
    first, second = api.until(lambda: (e := api.events()) and len(e) == 2 and e, "two events")
    bad = api.http.get("/api/events", params={"after": "hello"})
    assert bad.status_code == 400
    assert "cursor" in bad.json()["detail"]
    real = Cursor.decode(first["cursor"])
    foreign_epoch = Cursor("AAAAAAAAAAAAAAAAAAAAAA", real.partition, real.offset).encode()
    gone = api.http.get("/api/events", params={"after": foreign_epoch})
    assert gone.status_code == 410
    assert "resync" in gone.json()["detail"]

    asyncio.run(expire_events(services.settings, company))  # as retention would
    expired = api.http.get("/api/events", params={"after": first["cursor"]})
    assert expired.status_code == 410
    assert "retention" in expired.json()["detail"]
    caught_up = api.http.get("/api/events", params={"after": second["cursor"]})
    assert caught_up.status_code == 200
    assert caught_up.json()["events"] == []

    # Message positions are bigints: one past them is a schema violation, not a 500.
    beyond = api.http.get(f"/api/tickets/{first['ticket_id']}/messages", params={"before": 2**63})
    assert beyond.status_code == 422, beyond.text
    assert "before" in beyond.json()["detail"]


async def test_poison_goes_to_dead_letter_and_the_partition_keeps_flowing(
    api: Api, services: Services, company: str
) -> None:
    s = services.settings
    poison = Command(
        id=f"poison-{uuid.uuid4().hex}",
        type="ticket.update",
        company_id=company,
        ticket_id="no-such-ticket",
        payload={"status": "open"},
    )
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(s.deadletter_topic, p) for p in range(s.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, ends[tp])
        await _command(s, poison, company)
        await _command(s, b"{not json", company)
        await asyncio.to_thread(api.deliver, [wa.text_message("still flowing")])
        await asyncio.to_thread(_pending, api, 1)
        found: dict[str, str] = {}
        deadline = asyncio.get_running_loop().time() + 20
        while len(found) < 2 and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    if r.value and (poison.id.encode() in r.value or r.value == b"{not json"):
                        found[r.value.decode()[:20]] = dict(r.headers)["error"].decode()
        assert len(found) == 2, found
        assert any("no ticket" in err for err in found.values())
    finally:
        await consumer.stop()
