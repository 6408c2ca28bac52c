"""Read models in dictionaries: the `View` and writer of the domain rules without Cassandra.

Used by unit and property tests to check the rules alone, and as the reference the Cassandra
store is compared against.
"""

from __future__ import annotations

from tidewire_platform.readmodel import Contact, Message, Ticket
from tidewire_projector.outcome import Outcome, ParkedStatus


class MemoryStore:
    def __init__(self) -> None:
        self.tickets: dict[tuple[str, str], Ticket] = {}
        self.open: dict[tuple[str, str, str], str] = {}
        self.contacts: dict[tuple[str, str], Contact] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.wamids: dict[tuple[str, str], str] = {}
        self.parked: dict[tuple[str, str], ParkedStatus] = {}

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None:
        return self.tickets.get((company_id, ticket_id))

    async def open_ticket(self, company_id: str, phone: str, contact_id: str) -> str | None:
        return self.open.get((company_id, phone, contact_id))

    async def contact(self, company_id: str, contact_id: str) -> Contact | None:
        return self.contacts.get((company_id, contact_id))

    async def message(self, company_id: str, message_id: str) -> Message | None:
        return self.messages.get((company_id, message_id))

    async def message_id_for_wamid(self, company_id: str, wamid: str) -> str | None:
        return self.wamids.get((company_id, wamid))

    async def parked_status(self, company_id: str, wamid: str) -> ParkedStatus | None:
        return self.parked.get((company_id, wamid))

    async def apply(self, outcome: Outcome) -> None:
        c = outcome.company_id
        for contact in outcome.contacts:
            self.contacts[(c, contact.id)] = contact
        for ticket in outcome.tickets:
            self.tickets[(c, ticket.id)] = ticket
        for entry in outcome.open_tickets:
            key = (c, entry.phone, entry.contact_id)
            if entry.ticket_id is None:
                self.open.pop(key, None)
            else:
                self.open[key] = entry.ticket_id
        for message in outcome.messages:
            self.messages[(c, message.id)] = message
        for wamid, message_id in outcome.wamids.items():
            self.wamids[(c, wamid)] = message_id
        for parked in outcome.parked:
            self.parked[(c, parked.wamid)] = parked

    def tickets_by_status(self, company_id: str, status: str) -> list[Ticket]:
        """Newest activity first, like the tickets_by_status table."""
        found = [t for (c, _), t in self.tickets.items() if c == company_id and t.status == status]
        return sorted(found, key=lambda t: (-t.updated_at, t.id))
