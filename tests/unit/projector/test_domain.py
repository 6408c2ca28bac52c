"""Whaticket's ticket and message rules, on the in-memory store."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tidewire_platform.acks import Ack
from tidewire_platform.contracts import Command, event_id_for
from tidewire_projector.domain import decide, first_reads
from tidewire_projector.outcome import Outcome, PoisonCommand
from tidewire_projector.store_memory import MemoryStore

pytestmark = pytest.mark.unit

_seq = itertools.count(1)


def _cmd(type_: str, ticket_id: str | None = None, **payload: Any) -> Command:
    n = next(_seq)
    return Command(
        id=f"cmd-{n}",
        type=type_,
        company_id="c",
        ticket_id=ticket_id,
        accepted_at=1000 + n,
        payload=payload,
    )


def _inbound(wamid: str, body: str = "hi", contact: str = "5511", **extra: Any) -> Command:
    return _cmd(
        "message.inbound",
        wamid=wamid,
        kind="text",
        body=body,
        phone_number_id="p1",
        contact_wa_id=contact,
        contact_name="Ana",
        occurred_at=500,
        **extra,
    )


async def _run(store: MemoryStore, command: Command, position: int = 0) -> Outcome:
    out = await decide(command, position, store)
    await store.apply(out)
    return out


async def test_first_inbound_creates_contact_pending_ticket_and_one_event() -> None:
    store = MemoryStore()
    out = await _run(store, _inbound("w1"))
    assert [e.type for e in out.events] == ["message.created"]
    ticket = out.tickets[0]
    assert (ticket.status, ticket.unread_messages, ticket.last_message) == ("pending", 1, "hi")
    assert store.contacts[("c", "5511")].name == "Ana"
    assert out.events[0].payload["ticket"]["unreadMessages"] == 1
    assert out.events[0].id == event_id_for(out.events[0].command_id)


async def test_inbound_joins_the_open_ticket_until_it_is_closed() -> None:
    store = MemoryStore()
    first = (await _run(store, _inbound("w1"))).tickets[0]
    second = (await _run(store, _inbound("w2", "again"))).tickets[0]
    assert second.id == first.id
    assert second.unread_messages == 2
    closed = await _run(store, _cmd("ticket.update", first.id, status="closed"))
    assert closed.events[0].payload["oldStatus"] == "pending"
    assert [d.status for d in closed.index_drops] == ["pending"]
    third = (await _run(store, _inbound("w3"))).tickets[0]
    assert third.id != first.id
    assert third.unread_messages == 1
    assert store.tickets[("c", first.id)].status == "closed"
    assert [t.id for t in store.tickets_by_status("c", "pending")] == [third.id]


async def test_statuses_only_move_forward_and_duplicates_emit_nothing() -> None:
    store = MemoryStore()
    ticket = (await _run(store, _inbound("w1"))).tickets[0]
    sent = await _run(store, _cmd("message.send", ticket.id, body="hello", client_message_id="k"))
    message_id = sent.messages[0].id
    await _run(store, _cmd("message.dispatched", ticket.id, message_id=message_id, wamid="out1"))
    read = await _run(store, _cmd("message.status", wamid="out1", ack=Ack.READ))
    assert read.events[0].payload["message"]["ack"] == Ack.READ
    late = await _run(store, _cmd("message.status", wamid="out1", ack=Ack.DELIVERED))
    again = await _run(store, _cmd("message.status", wamid="out1", ack=Ack.READ))
    failed = await _run(store, _cmd("message.status", wamid="out1", ack=Ack.FAILED))
    assert late.events == again.events == failed.events == []
    assert store.messages[("c", message_id)].ack == Ack.READ


async def test_status_before_the_wamid_is_known_is_parked_then_applied() -> None:
    store = MemoryStore()
    ticket = (await _run(store, _inbound("w1"))).tickets[0]
    sent = await _run(store, _cmd("message.send", ticket.id, body="hello"))
    parked = await _run(store, _cmd("message.status", wamid="out9", ack=Ack.DELIVERED))
    assert parked.events == []
    assert parked.parked[0].ack == Ack.DELIVERED
    done = await _run(
        store, _cmd("message.dispatched", ticket.id, message_id=sent.messages[0].id, wamid="out9")
    )
    assert done.events[0].payload["message"]["ack"] == Ack.DELIVERED
    assert done.events[0].payload["message"]["wamid"] == "out9"


async def test_failed_is_terminal_and_keeps_the_reason() -> None:
    store = MemoryStore()
    ticket = (await _run(store, _inbound("w1"))).tickets[0]
    sent = await _run(store, _cmd("message.send", ticket.id, body="x"))
    message_id = sent.messages[0].id
    failed = await _run(store, _cmd("message.failed", message_id=message_id, error="131026"))
    assert failed.events[0].payload["message"]["error"] == "131026"
    await _run(store, _cmd("message.dispatched", message_id=message_id, wamid="o"))
    await _run(store, _cmd("message.status", wamid="o", ack=Ack.READ))
    assert store.messages[("c", message_id)].ack == Ack.FAILED


async def test_reaction_updates_the_message_it_points_at() -> None:
    store = MemoryStore()
    created = await _run(store, _inbound("w1"))
    target = created.messages[0].id
    out = await _run(store, _inbound("w2", "👍", reaction={"message_id": "w1", "emoji": "👍"}))
    assert [e.type for e in out.events] == ["message.updated"]
    assert store.messages[("c", target)].reactions == {"5511": "👍"}
    await _run(store, _inbound("w3", "", reaction={"message_id": "w1", "emoji": ""}))
    assert store.messages[("c", target)].reactions == {}
    assert store.tickets[("c", created.tickets[0].id)].unread_messages == 1


async def test_taking_back_a_reaction_to_an_unknown_message_changes_nothing() -> None:
    store = MemoryStore()
    ticket = (await _run(store, _inbound("w1"))).tickets[0]
    kept = await _run(store, _inbound("w2", "👍", reaction={"message_id": "w-old", "emoji": "👍"}))
    assert len(kept.messages) == 1  # kept as a message of its own: nothing dropped
    gone = await _run(store, _inbound("w3", "", reaction={"message_id": "w-old", "emoji": ""}))
    assert (gone.events, gone.messages, gone.tickets) == ([], [], [])
    assert store.tickets[("c", ticket.id)].unread_messages == 2


async def test_read_resets_unread_once() -> None:
    store = MemoryStore()
    ticket = (await _run(store, _inbound("w1"))).tickets[0]
    first = await _run(store, _cmd("ticket.read", ticket.id))
    second = await _run(store, _cmd("ticket.read", ticket.id))
    assert [e.type for e in first.events] == ["ticket.read"]
    assert second.events == []
    assert store.tickets[("c", ticket.id)].unread_messages == 0


async def test_an_agents_answer_clears_the_unread_counter_as_in_whaticket() -> None:
    store = MemoryStore()
    ticket = (await _run(store, _inbound("w1"))).tickets[0]
    await _run(store, _inbound("w2"))
    out = await _run(store, _cmd("message.send", ticket.id, body="olá", client_message_id="k1"))
    assert out.events[0].payload["ticket"]["unreadMessages"] == 0
    assert store.tickets[("c", ticket.id)].unread_messages == 0


async def test_a_quote_of_an_unknown_message_keeps_its_wamid() -> None:
    store = MemoryStore()
    first = (await _run(store, _inbound("w1"))).messages[0]
    known = (await _run(store, _inbound("w2", quoted_wamid="w1"))).messages[0]
    unknown = (await _run(store, _inbound("w3", quoted_wamid="w-before-us"))).messages[0]
    assert (known.quoted_msg_id, known.quoted_wamid) == (first.id, "w1")
    assert (unknown.quoted_msg_id, unknown.quoted_wamid) == (None, "w-before-us")
    assert unknown.wire()["quotedWamid"] == "w-before-us"


async def test_update_assignee_and_queue_and_noop_update() -> None:
    store = MemoryStore()
    ticket = (await _run(store, _inbound("w1"))).tickets[0]
    out = await _run(
        store, _cmd("ticket.update", ticket.id, status="open", user_id="u1", queue_id="sales")
    )
    assert out.events[0].payload["ticket"]["userId"] == "u1"
    assert out.events[0].payload["ticket"]["queueId"] == "sales"
    noop = await _run(store, _cmd("ticket.update", ticket.id, status="open", user_id="u1"))
    assert noop.events == []
    assert noop.tickets == []


@pytest.mark.parametrize(
    "command",
    [
        _cmd("message.send", "nope", body="x"),
        _cmd("message.send", None, body="x"),
        _cmd("ticket.update", "nope", status="open"),
        _cmd("message.inbound", wamid="w"),
        _cmd("message.dispatched", message_id="nope", wamid="w"),
    ],
)
async def test_commands_that_can_never_apply_are_poison(command: Command) -> None:
    with pytest.raises(PoisonCommand):
        await decide(command, 0, MemoryStore())


async def test_one_active_ticket_per_contact_and_connection() -> None:
    """A closed ticket is not reopened over a newer active one; closing a ticket that does
    not hold the pair leaves the pair to the one that does."""
    store = MemoryStore()
    old = (await _run(store, _inbound("w1"))).tickets[0]
    await _run(store, _cmd("ticket.update", old.id, status="closed"))
    new = (await _run(store, _inbound("w2"))).tickets[0]
    refused = await _run(store, _cmd("ticket.update", old.id, status="open", user_id="u1"))
    assert [t.status for t in refused.tickets] == ["closed"]  # the assignee still changes
    assert refused.open_tickets == []
    assert await store.open_ticket("c", "p1", "5511") == new.id
    await _run(store, _cmd("ticket.update", new.id, status="closed"))
    assert await store.open_ticket("c", "p1", "5511") is None
    reopened = await _run(store, _cmd("ticket.update", old.id, status="open"))
    assert [t.status for t in reopened.tickets] == ["open"]  # the pair is free again
    assert await store.open_ticket("c", "p1", "5511") == old.id
    await _run(store, _cmd("ticket.update", new.id, status="pending"))  # new: held by old
    assert store.tickets[("c", new.id)].status == "closed"
    assert (await _run(store, _inbound("w3"))).tickets[0].id == old.id


@pytest.mark.parametrize(
    "command",
    [
        _cmd("message.status", wamid="w1", ack=-1, errors=["not an object"]),  # AttributeError
        _cmd(  # a field the read model's validation refuses (ValueError)
            "message.inbound",
            wamid="w2",
            kind="text",
            body="x",
            phone_number_id="p1",
            contact_wa_id="5511",
            occurred_at="yesterday",
        ),
    ],
)
async def test_payloads_that_break_a_rule_are_poison_not_a_stall(command: Command) -> None:
    """Whatever a handler cannot read is dead-lettered; an unexpected exception would make
    the projector retry the batch for ever."""
    store = MemoryStore()
    await _run(store, _inbound("w1"))
    with pytest.raises(PoisonCommand, match="malformed"):
        await decide(command, 1, store)


async def test_bad_status_value_is_poison() -> None:
    store = MemoryStore()
    ticket = (await _run(store, _inbound("w1"))).tickets[0]
    with pytest.raises(PoisonCommand, match="status"):
        await decide(_cmd("ticket.update", ticket.id, status="archived"), 0, store)


async def test_outcome_survives_the_journal_round_trip() -> None:
    store = MemoryStore()
    out = await _run(store, _inbound("w1"))
    assert Outcome.from_json(out.to_json()) == out
    assert out.messages[0].ack == Ack.PENDING


class _Recording(MemoryStore):
    """A MemoryStore that notes every (kind, key) `decide` reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: set[tuple[str, tuple[str, ...]]] = set()

    async def contact(self, company_id: str, contact_id: str) -> Any:
        self.reads.add(("contact", (contact_id,)))
        return await super().contact(company_id, contact_id)

    async def open_ticket(self, company_id: str, phone: str, contact_id: str) -> Any:
        self.reads.add(("open", (phone, contact_id)))
        return await super().open_ticket(company_id, phone, contact_id)

    async def ticket(self, company_id: str, ticket_id: str) -> Any:
        self.reads.add(("ticket", (ticket_id,)))
        return await super().ticket(company_id, ticket_id)

    async def message_id_for_wamid(self, company_id: str, wamid: str) -> Any:
        self.reads.add(("wamid", (wamid,)))
        return await super().message_id_for_wamid(company_id, wamid)

    async def message(self, company_id: str, message_id: str) -> Any:
        self.reads.add(("message", (message_id,)))
        return await super().message(company_id, message_id)


async def test_first_reads_name_documents_decide_really_reads() -> None:
    """The batch prefetch is only useful if its hints are reads `decide` makes."""
    store = _Recording()
    first = await _run(store, _inbound("w1"))
    ticket_id = first.tickets[0].id
    send = _cmd("message.send", ticket_id, body="olá", client_message_id="k1")
    await _run(store, send, position=2)
    commands = [
        _inbound("w2", quoted_wamid="w1"),
        _inbound("w3", reaction={"message_id": "w-unseen", "emoji": "👍"}),
        _cmd("message.status", wamid="w1", ack=Ack.READ),
        _cmd("message.dispatched", ticket_id, message_id=send.id, wamid="wa-out"),
        _cmd("ticket.update", ticket_id, status="open"),
        _cmd("ticket.read", ticket_id),
    ]
    for position, command in enumerate(commands, start=3):
        store.reads.clear()
        hints = first_reads(command)
        await _run(store, command, position)
        assert hints, command.type
        assert set(hints) <= store.reads, command.type


def test_first_reads_of_a_malformed_payload_is_empty_not_an_error() -> None:
    assert first_reads(_cmd("message.inbound", phone_number_id=7, reaction="x")) == []


async def test_a_publication_is_an_event_as_published_and_writes_no_read_model() -> None:
    payload = {
        "publication_id": "p-1",
        "namespace": "/7",
        "rooms": ["123"],
        "except": [],
        "event": "company-c-appMessage",
        "data": {"action": "create", "message": {"id": 1}},
    }
    out = await decide(_cmd("publication", **payload), 5, MemoryStore())
    [event] = out.events
    assert (event.type, event.ticket_id, event.payload) == ("publication", None, payload)
    assert (out.messages, out.tickets, out.contacts) == ([], [], [])


@pytest.mark.parametrize(
    "payload",
    [{}, {"publication_id": "p", "event": "e", "namespace": "x"}, {"publication_id": "p"}],
)
async def test_a_malformed_publication_is_poison(payload: dict[str, Any]) -> None:
    with pytest.raises(PoisonCommand):
        await decide(_cmd("publication", **payload), 5, MemoryStore())
