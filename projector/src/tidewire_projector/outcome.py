"""What the rules of `domain` read and produce: the `View` of the read models they decide on,
the `Outcome` of a command (documents to write, index entries to drop, events to append), and
`PoisonCommand`, how they refuse a command that can never be applied.

The outcome is journaled before it is applied, so a command replayed after a crash re-applies
the *same* outcome instead of deciding again (see `journal_cassandra`).
"""

from __future__ import annotations

from typing import Any, Protocol, TypeGuard

from pydantic import BaseModel, Field

from tidewire_platform import limits
from tidewire_platform.contracts import Command, Event, event_id_for, now_ms
from tidewire_platform.readmodel import Contact, Message, Ticket


class PoisonCommand(ValueError):
    """A command that can never be applied (goes to the dead-letter topic)."""


class View(Protocol):
    """Read access to the current read models of one company."""

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None: ...
    async def open_ticket(self, company_id: str, phone: str, contact_id: str) -> str | None: ...
    async def contact(self, company_id: str, contact_id: str) -> Contact | None: ...
    async def message(self, company_id: str, message_id: str) -> Message | None: ...
    async def message_id_for_wamid(self, company_id: str, wamid: str) -> str | None: ...
    async def parked_status(self, company_id: str, wamid: str) -> ParkedStatus | None: ...


class ParkedStatus(BaseModel):
    """A delivery status for a wamid no message holds yet, kept until one does."""

    wamid: str
    ack: int
    error: str | None = None


class OpenTicket(BaseModel):
    """Which ticket an inbound message of (connection, contact) joins; None = no open one."""

    phone: str
    contact_id: str
    ticket_id: str | None


class IndexDrop(BaseModel):
    """A stale entry of tickets_by_status (the ticket moved status or activity time)."""

    status: str
    updated_at: int
    ticket_id: str


class Outcome(BaseModel):
    # Factories, not `= []`: pydantic deep-copies mutable defaults, and one outcome is made
    # per command (12 µs against 2 µs each).
    company_id: str
    contacts: list[Contact] = Field(default_factory=list)
    tickets: list[Ticket] = Field(default_factory=list)
    index_drops: list[IndexDrop] = Field(default_factory=list)
    open_tickets: list[OpenTicket] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    wamids: dict[str, str] = Field(default_factory=dict)  # wamid -> message id
    parked: list[ParkedStatus] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        return cls.model_validate_json(text)

    def touch(self, ticket: Ticket, **changes: Any) -> Ticket:
        """`ticket` with `changes`, written by this outcome, with the index entry it leaves
        behind dropped."""
        new = ticket.model_copy(update=changes)
        if (new.status, new.updated_at) != (ticket.status, ticket.updated_at):
            self.index_drops.append(
                IndexDrop(status=ticket.status, updated_at=ticket.updated_at, ticket_id=ticket.id)
            )
        self.tickets.append(new)
        return new


def event_of(command: Command, type_: str, ticket_id: str | None, payload: dict[str, Any]) -> Event:
    """The event `command` appends (its id derived from the command's: one per command)."""
    return Event(
        id=event_id_for(command.id),
        type=type_,
        company_id=command.company_id,
        ticket_id=ticket_id,
        command_id=command.id,
        occurred_at=now_ms(),
        accepted_at=command.accepted_at,
        payload=payload,
    )


def is_key(value: object) -> TypeGuard[str]:
    """Whether `value` can be a key of a read (a non-empty id under Cassandra's key limit)."""
    return isinstance(value, str) and 0 < len(value) <= limits.WHATSAPP_ID_CHARS


def required_key(payload: dict[str, Any], key: str) -> str:
    """An id of the payload; a poison command when it is missing or over its bound (a read
    with it would fail in Cassandra on every retry)."""
    value = payload.get(key)
    if not is_key(value):
        raise PoisonCommand(
            f"payload.{key} must be a string of 1 to {limits.WHATSAPP_ID_CHARS} characters"
        )
    return value
