"""Read-model documents shared by the projector (writer) and the query API (reader).

Field names follow Whaticket's JSON (camelCase), but the documents are tidewire's own:
string ids, times in milliseconds since the epoch (like every *_at field of the logs) where
Whaticket sends ISO strings, and no nested contact or user. An existing Whaticket front end
cannot read them as they are; it keeps its own backend's payloads through gateway mode
(docs/gateway.md).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from tidewire_platform.acks import Ack

TicketStatus = Literal["open", "pending", "closed"]
TICKET_STATUSES: tuple[TicketStatus, ...] = ("open", "pending", "closed")


class Doc(BaseModel):
    """A read-model document, (de)serialised as camelCase JSON."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Contact(Doc):
    id: str  # the customer's WhatsApp id (wa_id)
    company_id: str
    name: str | None = None
    number: str


class Ticket(Doc):
    id: str
    company_id: str
    contact_id: str
    whatsapp_id: str  # the connection: phone_number_id
    status: TicketStatus = "pending"
    unread_messages: int = 0
    last_message: str = ""
    user_id: str | None = None  # assignee
    queue_id: str | None = None
    created_at: int
    updated_at: int


class Message(Doc):
    id: str
    company_id: str
    ticket_id: str
    contact_id: str | None = None
    position: int  # offset of the command in the commands log: the ticket's order
    wamid: str | None = None
    client_message_id: str | None = None
    kind: str = "text"
    body: str = ""
    media: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    shared_contacts: list[Any] | None = None
    interactive: dict[str, Any] | None = None
    quoted_msg_id: str | None = None
    # The quoted message's wamid as WhatsApp sent it: kept even when that message is not
    # known here (older than the tenant, or not arrived yet), so the link is never lost.
    quoted_wamid: str | None = None
    reactions: dict[str, str] = {}
    # Fields cut to their bound (`tidewire_platform.limits`), e.g. ["body"]: what is shown is
    # not all that was sent (the whole of it stays in the commands log).
    truncated: list[str] = []
    from_me: bool
    read: bool = False
    ack: int = Ack.PENDING  # the `Ack` scale, kept a plain int in documents
    error: str | None = None
    user_id: str | None = None
    created_at: int
    updated_at: int
