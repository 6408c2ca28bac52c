"""The seam between the services that read the read models and where they live.

The projector writes the read models (tickets, contacts, messages) into a keyspace; a rebuild
writes a complete new set into a fresh keyspace and switches the active pointer
(`read_models_home`). Every reader of them (ingest's query API and its ticket checks, the
edge's room checks, the outbound sender) reads through one `ReadModelReader`, which owns
following that pointer. Guarantees:

- follows the switch: reads notice a rebuild's switch within a few seconds, at once after
  `follow()`; a reader never mixes two keyspaces within one call;
- documents are whole: a document read is one the projector wrote in one piece (writes are
  upserts of whole documents), never a partial one;
- order: `tickets` pages are newest activity first (ties by ticket id), each ticket of the
  status once across pages; `messages` are oldest first within the page, by log position;
- page cursors are sealed (`page_cursor`): a cursor this reader did not hand out for the same
  company and status raises `BadPageCursor` and reaches no engine.

None means "not there". Any other exception means the store did not answer: the question is
open (never to be read as "not there"); callers answer 503 or try again.
Bindings: `read_models_cassandra.py`, `read_models_memory.py` (tests).
The projector's own reads while deciding (`tidewire_projector.domain.View`) are not this
seam: it reads the keyspace it is writing, which during a rebuild is not the active one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tidewire_platform.readmodel import Contact, Message, Ticket, TicketStatus


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]
    next: str | None  # opaque; None = last page


class BadPageCursor(ValueError):
    """A tickets page cursor that this API did not hand out."""


class ReadModelReader(Protocol):
    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None: ...

    async def contact(self, company_id: str, contact_id: str) -> Contact | None: ...

    async def message(self, company_id: str, message_id: str) -> Message | None: ...

    async def tickets(
        self, company_id: str, status: TicketStatus, cursor: str | None, limit: int
    ) -> TicketPage:
        """Up to `limit` tickets of the status, newest activity first, from `cursor` (a
        `TicketPage.next` of the same company and status) or the start."""
        ...

    async def messages(
        self,
        company_id: str,
        ticket_id: str,
        before: int | None,
        after: int | None,
        limit: int,
    ) -> list[Message]:
        """Up to `limit` messages of the ticket, oldest first: those right after log
        position `after` if given, else those right before `before`, else the newest."""
        ...

    async def follow(self) -> None:
        """Look up now where the read models are (a rebuild may just have switched them)."""
        ...
