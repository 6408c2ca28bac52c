"""Ticket ownership for the edge's room checks, over the read-model reader: a yes is
remembered, a no is asked again after following the active keyspace, and a store that does
not answer is "unknown", never "no"."""

from __future__ import annotations

import pytest

from tidewire_platform.read_models_memory import MemoryReadModels
from tidewire_platform.readmodel import Ticket
from tidewire_platform.ticket_owners import OwnersUnavailable, TicketOwners

pytestmark = pytest.mark.unit


def _ticket(company: str, ticket: str) -> Ticket:
    return Ticket(
        id=ticket, company_id=company, contact_id="c", whatsapp_id="pn", created_at=1, updated_at=1
    )


class _Following(MemoryReadModels):
    """Counts `follow` calls: the reader moved to another keyspace when asked to."""

    def __init__(self) -> None:
        super().__init__()
        self.follows = 0

    async def follow(self) -> None:
        self.follows += 1
        await super().follow()


async def test_a_yes_is_remembered_and_a_no_is_asked_again_after_following() -> None:
    reader = _Following()
    reader.put(_ticket("acme", "t1"))
    owners = TicketOwners(reader)
    assert await owners.owns("acme", "t1")
    assert not await owners.owns("globex", "t1")
    assert reader.follows == 1
    reader.failing = RuntimeError("Cassandra away")
    assert await owners.owns("acme", "t1")  # remembered: tickets never change company


async def test_a_store_that_does_not_answer_is_unknown_not_no() -> None:
    reader = MemoryReadModels()
    reader.failing = RuntimeError("NoHostAvailable")
    with pytest.raises(OwnersUnavailable, match="NoHostAvailable"):
        await TicketOwners(reader).owns("acme", "t1")
