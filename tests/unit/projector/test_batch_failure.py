"""A batch that fails half-way (one company's read times out) is folded again from scratch:
the companies still in flight when it failed must not stage anything into the retry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.commands import inbound_command
from tests.support.faust_records import record_of
from tidewire_platform.contracts import Event
from tidewire_platform.readmodel import Ticket
from tidewire_platform.settings import StackSettings
from tidewire_projector.appends import Append, Topics
from tidewire_projector.journal_cassandra import Unit
from tidewire_projector.pipeline import Pipeline
from tidewire_projector.store_cached import CachedStore

pytestmark = pytest.mark.unit


class _NoTail:
    async def present(self, since: dict[int, int]) -> dict[int, set[str]]:
        raise AssertionError("no replay here: the log is never read")


class _Cassandra:
    """Company A's ticket read times out once; company B's reads wait for `answer`."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.tickets: dict[tuple[str, str], Ticket] = {}
        self.open: dict[tuple[str, str, str], str] = {}
        self.a_fails = True
        self.flushed: list[list[Unit]] = []

    async def journaled(self, positions: Any) -> dict[str, Any]:
        return {}

    async def many(self, kind: str, wanted: dict[str, Any]) -> dict[Any, Any]:
        if kind != "open":
            return {}
        return {
            (c, *k): self.open[(c, *k)]
            for c, keys in wanted.items()
            for k in keys
            if (c, *k) in self.open
        }

    async def contact(self, company: str, wa_id: str) -> None:
        await asyncio.sleep(0.01)

    async def open_ticket(self, company: str, phone: str, contact: str) -> str | None:
        await asyncio.sleep(0.01)
        return self.open.get((company, phone, contact))

    async def ticket(self, company: str, ticket_id: str) -> Ticket | None:
        if company == "A" and self.a_fails:
            self.a_fails = False
            raise TimeoutError("read timeout")
        await self.answer.wait()  # still waiting when A's failure ends the attempt
        return self.tickets.get((company, ticket_id))

    async def message_id_for_wamid(self, company: str, wamid: str) -> None:
        return None

    async def flush(self, units: list[Unit]) -> None:
        self.flushed.append(units)


async def test_a_retried_batch_applies_each_command_once() -> None:
    cassandra = _Cassandra()
    records = []
    for n, company in enumerate(["A", "B"]):
        command = inbound_command(company, 1, "r", n)
        ticket = Ticket(
            id="tk",
            company_id=company,
            contact_id=command.payload["contact_wa_id"],
            whatsapp_id=command.payload["phone_number_id"],
            created_at=1,
            updated_at=1,
        )
        cassandra.tickets[(company, "tk")] = ticket
        cassandra.open[(company, ticket.whatsapp_id, ticket.contact_id)] = "tk"
        records.append(record_of(command, 100 + n))
    store = CachedStore(cassandra)  # type: ignore[arg-type]
    pipeline = Pipeline(store, Topics.of(StackSettings()), _NoTail())
    with pytest.raises(Exception):  # noqa: B017, PT011 (the first attempt: A's read times out)
        await pipeline.fold(records)
    store.clear()  # what the agent does before it retries
    cassandra.answer.set()
    for _ in range(20):
        await asyncio.sleep(0)  # anything of the first attempt still running stages now
    decided = await pipeline.fold(records)
    await pipeline.write()
    (units,) = cassandra.flushed
    assert sorted(u.outcome.company_id for u in units) == ["A", "B"]
    for unit in units:
        assert [t.unread_messages for t in unit.outcome.tickets] == [1]
    unread = [
        Event.from_bytes(a.value).payload["ticket"]["unreadMessages"]
        for a in decided.appends
        if isinstance(a, Append)
    ]
    assert unread == [1, 1]
