"""What the query API reads: the projector's read models, one company at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tidewire_platform.readmodel import Contact, Message, Ticket, TicketStatus


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]
    next: str | None  # opaque; None = last page


class ReadModels(Protocol):
    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None: ...
    async def contact(self, company_id: str, contact_id: str) -> Contact | None: ...
    async def tickets(
        self, company_id: str, status: TicketStatus, cursor: str | None, limit: int
    ) -> TicketPage: ...
    async def messages(
        self,
        company_id: str,
        ticket_id: str,
        before: int | None,
        after: int | None,
        limit: int,
    ) -> list[Message]: ...


class BadPageCursor(ValueError):
    """A tickets page cursor that this API did not hand out."""
