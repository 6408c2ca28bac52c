"""The rules carry nothing forward unbounded, even from commands logged before ingest bounded
their fields: the wedge's commands as they sit in the log, read models folded from them,
reactions accumulated from many senders, and ids no Cassandra key holds."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tidewire_platform import limits
from tidewire_platform.contracts import Command
from tidewire_platform.readmodel import Contact, Message, Ticket
from tidewire_projector.domain import decide, first_reads
from tidewire_projector.outcome import PoisonCommand
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
        accepted_at=n,
        payload=payload,
    )


def _inbound(wamid: str, sender: str = "5511", **payload: Any) -> Command:
    fields = {"kind": "text", "body": "hi", "contact_name": None, **payload}
    return _cmd(
        "message.inbound", wamid=wamid, phone_number_id="p1", contact_wa_id=sender, **fields
    )


async def _fold(store: MemoryStore, command: Command) -> Any:
    outcome = await decide(command, next(_seq), store)
    await store.apply(outcome)
    return outcome


async def test_the_wedge_as_logged_before_the_bounds_makes_small_events() -> None:
    store = MemoryStore()
    await _fold(store, _inbound("w1", contact_name="N" * 585_000))
    outcome = await _fold(store, _inbound("w2", body="y" * 293_000))
    [event] = outcome.events
    assert len(event.to_bytes()) < 20_000
    message = event.payload["message"]
    assert message["body"] == "y" * limits.TEXT_BODY_CHARS
    assert message["truncated"] == ["body"]
    assert event.payload["contact"]["name"] == "N" * limits.PROFILE_NAME_CHARS
    assert len(event.payload["ticket"]["lastMessage"]) == limits.TEXT_BODY_CHARS


async def test_oversize_documents_already_in_the_read_models_are_cut_and_repaired() -> None:
    store = MemoryStore()
    await _fold(store, _inbound("w1"))
    [ticket] = store.tickets.values()
    store.contacts[("c", "5511")] = Contact(
        id="5511", company_id="c", name="N" * 10**6, number="5511"
    )
    big = ticket.model_copy(update={"last_message": "L" * 10**6})
    store.tickets[("c", ticket.id)] = big
    [message] = store.messages.values()
    store.messages[("c", message.id)] = message.model_copy(
        update={"body": "B" * 10**6, "reactions": {f"55{n}": "x" for n in range(1000)}}
    )

    outcome = await _fold(store, _inbound("w2"))  # no name: the stored one would be embedded
    [event] = outcome.events
    assert len(event.to_bytes()) < 20_000
    assert [c.name for c in outcome.contacts] == ["N" * limits.PROFILE_NAME_CHARS]  # repaired

    outcome = await _fold(
        store, _inbound("w3", kind="reaction", reaction={"message_id": "w1", "emoji": "+"})
    )
    [event] = outcome.events
    assert len(event.to_bytes()) < 20_000
    updated = event.payload["message"]
    assert len(updated["body"]) == limits.TEXT_BODY_CHARS
    assert len(updated["reactions"]) == limits.REACTIONS_PER_MESSAGE
    assert updated["truncated"] == ["body", "reactions"]

    store.tickets[("c", ticket.id)] = big.model_copy(update={"unread_messages": 3})
    outcome = await _fold(store, _cmd("ticket.read", ticket.id))
    assert len(outcome.events[0].payload["ticket"]["lastMessage"]) == limits.TEXT_BODY_CHARS


async def test_reactions_do_not_accumulate_past_their_bound() -> None:
    store = MemoryStore()
    await _fold(store, _inbound("w1"))
    for n in range(3 * limits.REACTIONS_PER_MESSAGE):
        reaction = {"message_id": "w1", "emoji": "\N{THUMBS UP SIGN}" * 50}
        await _fold(
            store, _inbound(f"r{n}", sender=f"55{n:06d}", kind="reaction", reaction=reaction)
        )
    [message] = [m for m in store.messages.values() if m.wamid == "w1"]
    assert len(message.reactions) == limits.REACTIONS_PER_MESSAGE
    assert all(len(e.encode()) <= limits.REACTION_EMOJI_BYTES for e in message.reactions.values())
    # A reactor already counted still changes or takes back their reaction.
    first = "55000000"
    await _fold(
        store,
        _inbound("rx", sender=first, kind="reaction", reaction={"message_id": "w1", "emoji": ""}),
    )
    [message] = [m for m in store.messages.values() if m.wamid == "w1"]
    assert first not in message.reactions


async def test_errors_and_unknown_kinds_are_cut() -> None:
    store = MemoryStore()
    await _fold(store, _inbound("w1", kind="k" * 10_000, body=None))
    [message] = store.messages.values()
    assert len(message.kind) == limits.KIND_CHARS
    [ticket] = store.tickets.values()
    assert ticket.last_message == f"[{'k' * limits.KIND_CHARS}]"
    sent = await _fold(store, _cmd("message.send", ticket.id, client_message_id="m1", body="oi"))
    [agent_message] = sent.messages
    await _fold(store, _cmd("message.failed", message_id=agent_message.id, error="e" * 100_000))
    failed = store.messages[("c", agent_message.id)]
    assert failed.error == "e" * limits.ERROR_CHARS


@pytest.mark.parametrize(
    "command",
    [
        _inbound("w" * (limits.WHATSAPP_ID_CHARS + 1)),
        _inbound("w1", sender="5" * 100_000),
        _inbound("w1", quoted_wamid="q" * 100_000),
        _inbound("w1", kind="reaction", reaction={"message_id": "m" * 100_000, "emoji": "+"}),
    ],
    ids=["wamid", "sender", "quoted", "reaction-target"],
)
async def test_ids_no_cassandra_key_could_hold_are_poison_not_reads(command: Command) -> None:
    # A read with such a key fails in Cassandra on every retry of the batch.
    assert all(len(k) <= limits.WHATSAPP_ID_CHARS for _, key in first_reads(command) for k in key)
    with pytest.raises(PoisonCommand):
        await decide(command, 1, MemoryStore())


async def test_a_dispatched_wamid_over_its_bound_is_poison() -> None:
    store = MemoryStore()
    await _fold(store, _inbound("w1"))
    [ticket] = store.tickets.values()
    sent = await _fold(store, _cmd("message.send", ticket.id, client_message_id="m1", body="oi"))
    [message] = sent.messages
    dispatched = _cmd("message.dispatched", message_id=message.id, wamid="w" * 100_000)
    with pytest.raises(PoisonCommand, match="wamid"):
        await decide(dispatched, 1, store)


async def test_assignees_over_their_bound_are_poison() -> None:
    store = MemoryStore()
    store.tickets[("c", "t1")] = Ticket(
        id="t1", company_id="c", contact_id="5511", whatsapp_id="p1", created_at=1, updated_at=1
    )
    with pytest.raises(PoisonCommand, match="user_id"):
        await decide(_cmd("ticket.update", "t1", user_id="u" * 10_000), 1, store)
    with pytest.raises(PoisonCommand, match="queue_id"):
        await decide(_cmd("ticket.update", "t1", queue_id="q" * 10_000), 1, store)
    assert (await decide(_cmd("ticket.update", "t1", user_id=None), 1, store)).events == []


async def test_ingests_marks_are_kept_and_bounded() -> None:
    store = MemoryStore()
    outcome = await _fold(store, _inbound("w1", truncated=["body", "contact_name"]))
    assert outcome.messages[0].truncated == ["body", "contact_name"]
    forged = await _fold(
        store, _inbound("w2", truncated=["x" * 10_000, *(f"f{n}" for n in range(1000))])
    )
    assert forged.messages[0].truncated == [f"f{n}" for n in range(16)]


def test_messages_have_no_truncated_fields_by_default() -> None:
    message = Message(
        id="m", company_id="c", ticket_id="t", position=1, from_me=False, created_at=1, updated_at=1
    )
    assert message.wire()["truncated"] == []
