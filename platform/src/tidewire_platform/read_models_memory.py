"""ReadModelReader in memory: documents in dictionaries, for unit tests and the contract suite.

Tests put documents as the projector would write them (`put`). Page cursors are sealed like
Cassandra's (the position in the status's order stands in for the paging state), so a forged
one is refused alike. `failing` makes every read raise it: the store not answering.
"""

from __future__ import annotations

from tidewire_platform.page_cursor import cursor_key, seal, unseal
from tidewire_platform.read_models import TicketPage
from tidewire_platform.readmodel import Contact, Message, Ticket, TicketStatus


class MemoryReadModels:
    def __init__(self, key: bytes = cursor_key("memory read models")) -> None:
        self._key = key
        self._tickets: dict[tuple[str, str], Ticket] = {}
        self._contacts: dict[tuple[str, str], Contact] = {}
        self._messages: dict[tuple[str, str], Message] = {}
        self.failing: Exception | None = None

    def put(self, *docs: Ticket | Contact | Message) -> None:
        """Write whole documents, replacing those of the same id."""
        for doc in docs:
            if isinstance(doc, Ticket):
                self._tickets[(doc.company_id, doc.id)] = doc
            elif isinstance(doc, Contact):
                self._contacts[(doc.company_id, doc.id)] = doc
            else:
                self._messages[(doc.company_id, doc.id)] = doc

    def _answer(self) -> None:
        if self.failing is not None:
            raise self.failing

    async def follow(self) -> None:
        self._answer()

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None:
        self._answer()
        return self._tickets.get((company_id, ticket_id))

    async def contact(self, company_id: str, contact_id: str) -> Contact | None:
        self._answer()
        return self._contacts.get((company_id, contact_id))

    async def message(self, company_id: str, message_id: str) -> Message | None:
        self._answer()
        return self._messages.get((company_id, message_id))

    async def tickets(
        self, company_id: str, status: TicketStatus, cursor: str | None, limit: int
    ) -> TicketPage:
        context = (company_id, status)
        start = int(unseal(self._key, context, cursor)) if cursor else 0
        self._answer()
        found = sorted(
            (t for (c, _), t in self._tickets.items() if c == company_id and t.status == status),
            key=lambda t: (-t.updated_at, t.id),
        )
        end = start + limit
        page = found[start:end]
        more = end < len(found)
        return TicketPage(page, seal(self._key, context, str(end).encode()) if more else None)

    async def messages(
        self,
        company_id: str,
        ticket_id: str,
        before: int | None,
        after: int | None,
        limit: int,
    ) -> list[Message]:
        self._answer()
        found = sorted(
            (
                m
                for (c, _), m in self._messages.items()
                if c == company_id and m.ticket_id == ticket_id
            ),
            key=lambda m: m.position,
        )
        if after is not None:
            return [m for m in found if m.position > after][:limit]
        if before is not None:
            found = [m for m in found if m.position < before]
        return found[-limit:] if limit > 0 else []
