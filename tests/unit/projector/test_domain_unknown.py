"""The `unknown` state of an agent's message: the outbound sender could not tell whether Graph
sent it. Only a pending message without wamid becomes unknown; a wamid wins either way."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tidewire_platform.acks import Ack, next_ack
from tidewire_platform.contracts import Command
from tidewire_projector.domain import decide, first_reads
from tidewire_projector.outcome import Outcome, PoisonCommand
from tidewire_projector.store_memory import MemoryStore

pytestmark = pytest.mark.unit

_seq = itertools.count(1)


def _cmd(type_: str, ticket_id: str | None = None, **payload: Any) -> Command:
    n = next(_seq)
    return Command(
        id=f"u-{n}", type=type_, company_id="c", ticket_id=ticket_id, accepted_at=1000 + n,
        payload=payload,
    )  # fmt: skip


async def _run(store: MemoryStore, command: Command, position: int = 0) -> Outcome:
    out = await decide(command, position, store)
    await store.apply(out)
    return out


async def _agent_message(store: MemoryStore) -> str:
    inbound = _cmd(
        "message.inbound", wamid="w1", kind="text", body="oi", phone_number_id="p1",
        contact_wa_id="5511", contact_name="Ana", occurred_at=500,
    )  # fmt: skip
    ticket = (await _run(store, inbound)).tickets[0]
    sent = await _run(store, _cmd("message.send", ticket.id, body="olá"))
    return sent.messages[0].id


async def test_unknown_marks_a_pending_message_with_its_reason_and_one_event() -> None:
    store = MemoryStore()
    message_id = await _agent_message(store)
    out = await _run(store, _cmd("message.unknown", message_id=message_id, error="unknown: 500"))
    [event] = out.events
    assert event.type == "message.updated"
    assert (event.payload["message"]["ack"], event.payload["message"]["error"]) == (
        Ack.UNKNOWN,
        "unknown: 500",
    )
    again = await _run(store, _cmd("message.unknown", message_id=message_id, error="unknown: 500"))
    assert again.events == []  # nothing changes: no event


async def test_a_wamid_recorded_first_wins_over_unknown() -> None:
    """The sender appended `dispatched`, then died before its ledger said so: the restarted
    sender appends `unknown`, which must not hide the send Graph confirmed."""
    store = MemoryStore()
    message_id = await _agent_message(store)
    await _run(store, _cmd("message.dispatched", message_id=message_id, wamid="out1"))
    out = await _run(store, _cmd("message.unknown", message_id=message_id, error="unknown"))
    assert out.events == []
    assert store.messages[("c", message_id)].ack == Ack.PENDING


async def test_a_wamid_learned_after_unknown_moves_the_message_on() -> None:
    store = MemoryStore()
    message_id = await _agent_message(store)
    await _run(store, _cmd("message.unknown", message_id=message_id, error="unknown"))
    await _run(store, _cmd("message.dispatched", message_id=message_id, wamid="out2"))
    await _run(store, _cmd("message.status", wamid="out2", ack=Ack.DELIVERED))
    held = store.messages[("c", message_id)]
    assert (held.ack, held.wamid) == (Ack.DELIVERED, "out2")


async def test_unknown_of_a_message_never_seen_is_poison() -> None:
    with pytest.raises(PoisonCommand):
        await decide(_cmd("message.unknown", message_id="nope"), 0, MemoryStore())


def test_unknown_reads_its_message_first() -> None:
    command = _cmd("message.unknown", message_id="m9", error="x")
    assert first_reads(command) == [("message", ("m9",))]


@pytest.mark.parametrize(
    ("current", "incoming", "after"),
    [
        (Ack.PENDING, Ack.UNKNOWN, Ack.UNKNOWN),
        (Ack.DELIVERED, Ack.UNKNOWN, Ack.DELIVERED),
        (Ack.FAILED, Ack.UNKNOWN, Ack.FAILED),
        (Ack.UNKNOWN, Ack.PENDING, Ack.PENDING),
        (Ack.UNKNOWN, Ack.READ, Ack.READ),
        (Ack.UNKNOWN, Ack.FAILED, Ack.FAILED),
        (Ack.UNKNOWN, Ack.UNKNOWN, Ack.UNKNOWN),
    ],
)
def test_next_ack_with_unknown(current: int, incoming: int, after: int) -> None:
    assert next_ack(current, incoming) == after
