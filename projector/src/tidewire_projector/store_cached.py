"""Read models the projector wrote, kept in its memory in front of Cassandra.

A company's read models have one writer: the projector that owns the company's partition, one
command at a time. What it wrote last is therefore what Cassandra holds, and reading it back is
a wasted round trip; this write-through cache answers the domain's reads from memory (misses,
including "absent", go to Cassandra once). It is dropped whole whenever partitions are
reassigned, because another process may have written them meanwhile.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from tidewire_platform.readmodel import Contact, Message, Ticket
from tidewire_projector.domain import Outcome, ParkedStatus
from tidewire_projector.store_cassandra import CassandraStore, Journaled

_MISSING = object()


class CachedStore:
    def __init__(self, inner: CassandraStore, max_entries: int = 200_000) -> None:
        self.inner = inner
        self._max = max_entries
        self._docs: OrderedDict[tuple[str, ...], Any] = OrderedDict()

    def clear(self) -> None:
        self._docs.clear()

    def _put(self, key: tuple[str, ...], value: Any) -> None:
        self._docs[key] = value
        self._docs.move_to_end(key)
        if len(self._docs) > self._max:
            self._docs.popitem(last=False)

    async def _get(self, key: tuple[str, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        value = self._docs.get(key, _MISSING)
        if value is _MISSING:
            value = await load()
            self._put(key, value)
        return value

    # -- View (see domain.View) -------------------------------------------------------------

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None:
        key = ("ticket", company_id, ticket_id)
        return await self._get(key, lambda: self.inner.ticket(company_id, ticket_id))  # type: ignore[no-any-return]

    async def open_ticket(self, company_id: str, phone: str, contact_id: str) -> str | None:
        key = ("open", company_id, phone, contact_id)
        load = lambda: self.inner.open_ticket(company_id, phone, contact_id)  # noqa: E731
        return await self._get(key, load)  # type: ignore[no-any-return]

    async def contact(self, company_id: str, contact_id: str) -> Contact | None:
        key = ("contact", company_id, contact_id)
        return await self._get(key, lambda: self.inner.contact(company_id, contact_id))  # type: ignore[no-any-return]

    async def message(self, company_id: str, message_id: str) -> Message | None:
        key = ("message", company_id, message_id)
        return await self._get(key, lambda: self.inner.message(company_id, message_id))  # type: ignore[no-any-return]

    async def message_id_for_wamid(self, company_id: str, wamid: str) -> str | None:
        key = ("wamid", company_id, wamid)
        load = lambda: self.inner.message_id_for_wamid(company_id, wamid)  # noqa: E731
        return await self._get(key, load)  # type: ignore[no-any-return]

    async def parked_status(self, company_id: str, wamid: str) -> ParkedStatus | None:
        key = ("parked", company_id, wamid)
        return await self._get(key, lambda: self.inner.parked_status(company_id, wamid))  # type: ignore[no-any-return]

    # -- journal and writes: through to Cassandra, then remembered ----------------------------

    async def journaled(self, company_id: str, command_id: str) -> Journaled | None:
        return await self.inner.journaled(company_id, command_id)

    async def commit(self, command_id: str, position: int, outcome: Outcome) -> None:
        await self.inner.commit(command_id, position, outcome)
        self._remember(outcome)

    async def apply(self, outcome: Outcome) -> None:
        await self.inner.apply(outcome)
        self._remember(outcome)

    def _remember(self, outcome: Outcome) -> None:
        c = outcome.company_id
        for contact in outcome.contacts:
            self._put(("contact", c, contact.id), contact)
        for ticket in outcome.tickets:
            self._put(("ticket", c, ticket.id), ticket)
        for entry in outcome.open_tickets:
            self._put(("open", c, entry.phone, entry.contact_id), entry.ticket_id)
        for message in outcome.messages:
            self._put(("message", c, message.id), message)
        for wamid, message_id in outcome.wamids.items():
            self._put(("wamid", c, wamid), message_id)
        for parked in outcome.parked:
            self._put(("parked", c, parked.wamid), parked)
