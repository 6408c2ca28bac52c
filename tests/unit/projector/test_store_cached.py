"""The projector's write-through memory: reads once, remembers its own writes, forgets on
rebalance."""

from __future__ import annotations

from typing import Any

import pytest

from tidewire_platform.readmodel import Ticket
from tidewire_projector.domain import OpenTicket, Outcome
from tidewire_projector.store_cached import CachedStore

pytestmark = pytest.mark.unit


class Inner:
    """Stands in for Cassandra: counts reads, stores what is committed."""

    def __init__(self) -> None:
        self.reads = 0
        self.tickets: dict[str, Ticket] = {}
        self.open: dict[str, str | None] = {}

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None:
        self.reads += 1
        return self.tickets.get(ticket_id)

    async def open_ticket(self, company_id: str, phone: str, contact_id: str) -> str | None:
        self.reads += 1
        return self.open.get(contact_id)

    async def commit(self, command_id: str, position: int, outcome: Outcome) -> None:
        for t in outcome.tickets:
            self.tickets[t.id] = t
        for o in outcome.open_tickets:
            self.open[o.contact_id] = o.ticket_id


def _ticket(unread: int) -> Ticket:
    return Ticket(
        id="t1",
        company_id="c",
        contact_id="55",
        whatsapp_id="p",
        unread_messages=unread,
        created_at=1,
        updated_at=1,
    )


async def test_reads_once_then_serves_its_own_writes_from_memory() -> None:
    inner = Inner()
    store = CachedStore(inner)  # type: ignore[arg-type]
    assert await store.ticket("c", "t1") is None
    assert await store.ticket("c", "t1") is None  # "absent" is remembered too
    assert inner.reads == 1
    out = Outcome(
        company_id="c",
        tickets=[_ticket(3)],
        open_tickets=[OpenTicket(phone="p", contact_id="55", ticket_id="t1")],
    )
    await store.commit("k", 1, out)
    got: Any = await store.ticket("c", "t1")
    assert got.unread_messages == 3
    assert await store.open_ticket("c", "p", "55") == "t1"
    assert inner.reads == 1


async def test_forgets_everything_when_partitions_move() -> None:
    inner = Inner()
    store = CachedStore(inner)  # type: ignore[arg-type]
    await store.commit("k", 1, Outcome(company_id="c", tickets=[_ticket(1)]))
    inner.tickets["t1"] = _ticket(9)  # another process wrote meanwhile
    store.clear()
    got: Any = await store.ticket("c", "t1")
    assert got.unread_messages == 9
    assert inner.reads == 1


async def test_bounded() -> None:
    inner = Inner()
    store = CachedStore(inner, max_entries=2)  # type: ignore[arg-type]
    for n in range(5):
        await store.ticket("c", f"t{n}")
    await store.ticket("c", "t0")  # evicted long ago: read again
    assert inner.reads == 6
