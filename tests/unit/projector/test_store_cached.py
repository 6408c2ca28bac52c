"""The projector's write-through memory: reads once, remembers its own writes, forgets on
rebalance."""

from __future__ import annotations

from typing import Any

import pytest

from tidewire_platform.readmodel import Ticket
from tidewire_projector.journal_cassandra import Unit
from tidewire_projector.outcome import OpenTicket, Outcome
from tidewire_projector.store_cached import CachedStore, weight

pytestmark = pytest.mark.unit


class Inner:
    """Stands in for Cassandra: counts reads, stores what is committed."""

    def __init__(self) -> None:
        self.reads = 0
        self.tickets: dict[str, Ticket] = {}
        self.open: dict[str, str | None] = {}
        self.flushes: list[list[Unit]] = []
        self.fail = False

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None:
        self.reads += 1
        return self.tickets.get(ticket_id)

    async def open_ticket(self, company_id: str, phone: str, contact_id: str) -> str | None:
        self.reads += 1
        return self.open.get(contact_id)

    async def flush(self, units: list[Unit]) -> None:
        if self.fail:
            raise ConnectionError("cassandra went away")
        self.flushes.append(units)
        for unit in units:
            for t in unit.outcome.tickets:
                self.tickets[t.id] = t
            for o in unit.outcome.open_tickets:
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
    store.stage(Unit(out, "k", 1))
    await store.flush()
    got: Any = await store.ticket("c", "t1")
    assert got.unread_messages == 3
    assert await store.open_ticket("c", "p", "55") == "t1"
    assert inner.reads == 1


async def test_forgets_everything_when_partitions_move() -> None:
    inner = Inner()
    store = CachedStore(inner)  # type: ignore[arg-type]
    store.stage(Unit(Outcome(company_id="c", tickets=[_ticket(1)]), "k", 1))
    await store.flush()
    inner.tickets["t1"] = _ticket(9)  # another process wrote meanwhile
    store.forget_written()
    got: Any = await store.ticket("c", "t1")
    assert got.unread_messages == 9
    assert inner.reads == 1


async def test_partitions_moving_mid_batch_keep_the_batch_in_flight() -> None:
    """What earlier batches wrote is forgotten; what the batch in flight staged is still
    read by its later commands and written by its flush."""
    inner = Inner()
    store = CachedStore(inner)  # type: ignore[arg-type]
    store.stage(Unit(Outcome(company_id="c", tickets=[_ticket(1)]), "k1", 1))
    store.forget_written()
    got: Any = await store.ticket("c", "t1")
    assert got.unread_messages == 1
    await store.flush()
    assert [[u.command_id for u in units] for units in inner.flushes] == [["k1"]]


async def test_bounded() -> None:
    inner = Inner()
    store = CachedStore(inner, max_bytes=2 * weight(None))  # type: ignore[arg-type]
    for n in range(5):
        await store.ticket("c", f"t{n}")  # absent: remembered as such
    await store.ticket("c", "t4")  # among the last two: from memory
    assert inner.reads == 5
    await store.ticket("c", "t0")  # evicted long ago: read again
    assert inner.reads == 6


async def test_a_batch_sees_its_staged_outcomes_and_writes_them_in_one_flush() -> None:
    inner = Inner()
    store = CachedStore(inner)  # type: ignore[arg-type]
    store.stage(Unit(Outcome(company_id="c", tickets=[_ticket(1)]), "k1", 1))
    got: Any = await store.ticket("c", "t1")
    assert got.unread_messages == 1  # the next command of the batch builds on it
    store.stage(Unit(Outcome(company_id="c", tickets=[_ticket(2)]), "k2", 2))
    assert inner.tickets == {}  # nothing written before the flush
    await store.flush()
    assert [[u.command_id for u in units] for units in inner.flushes] == [["k1", "k2"]]
    assert inner.tickets["t1"].unread_messages == 2
    assert inner.reads == 0


async def test_a_failed_flush_forgets_what_cassandra_does_not_hold() -> None:
    inner = Inner()
    store = CachedStore(inner)  # type: ignore[arg-type]
    inner.fail = True
    store.stage(Unit(Outcome(company_id="c", tickets=[_ticket(5)]), "k", 1))
    with pytest.raises(ConnectionError):
        await store.flush()
    assert await store.ticket("c", "t1") is None  # read from "Cassandra" again, not memory
    assert inner.reads == 1


async def test_bounded_in_bytes_not_documents() -> None:
    inner = Inner()
    small, big = _ticket(1), _ticket(1).model_copy(update={"last_message": "x" * 100_000})
    assert weight(big) - weight(small) >= 100_000
    store = CachedStore(inner, max_bytes=3 * weight(big))  # type: ignore[arg-type]
    for n in range(3):
        store._put(("ticket", "c", f"big{n}"), big)
    assert store.size_bytes == 3 * weight(big)
    store._put(("ticket", "c", "one-more"), big)  # the oldest goes
    assert store.size_bytes == 3 * weight(big)
    for n in range(50):  # small ones: many fit where a few big ones did
        store._put(("ticket", "c", f"small{n}"), small)
    assert store.size_bytes <= 3 * weight(big)
    inner.tickets["small0"] = small
    await store.ticket("c", "small0")
    assert inner.reads == 0  # still remembered
    store.forget_written()
    assert store.size_bytes == 0
