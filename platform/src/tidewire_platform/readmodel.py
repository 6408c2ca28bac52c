"""Read-model documents shared by the projector (writer) and the query API (reader).

Field names follow Whaticket's JSON (camelCase), but the documents are tidewire's own:
string ids, times in milliseconds since the epoch (like every *_at field of the logs) where
Whaticket sends ISO strings, and no nested contact or user. An existing Whaticket front end
cannot read them as they are; it keeps its own backend's payloads through gateway mode
(docs/gateway.md).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

TicketStatus = Literal["open", "pending", "closed"]
TICKET_STATUSES: tuple[TicketStatus, ...] = ("open", "pending", "closed")


class Ack(IntEnum):
    """The canonical, monotonic delivery acknowledgement of a message: Whaticket's numbers,
    which WhatsApp's status webhooks map to and clients compare against."""

    # The outbound sender asked Graph and got no answer it can trust (a timeout, a 5xx, a
    # crash in the middle); the message may or may not have reached the customer and is never
    # sent again by itself. Only a pending message without wamid becomes unknown; a wamid
    # learned later (another process's answer) moves it on like any ack.
    UNKNOWN = -2
    FAILED = -1  # terminal
    PENDING = 0
    SENT = 1
    DELIVERED = 2
    READ = 3
    PLAYED = 4


# The names the domain rules use: the members above.
ACK_UNKNOWN = Ack.UNKNOWN
ACK_FAILED = Ack.FAILED
ACK_PENDING = Ack.PENDING
ACK_SENT = Ack.SENT
ACK_DELIVERED = Ack.DELIVERED
ACK_READ = Ack.READ
ACK_PLAYED = Ack.PLAYED


def next_ack(current: int, incoming: int) -> int:
    """The ack after `incoming` arrives: never backwards; failed is terminal and is ignored
    once the message was read (a read message was evidently delivered); unknown replaces only
    pending, and any known progress replaces unknown."""
    if current == ACK_FAILED:
        return current
    if incoming == ACK_UNKNOWN:
        return ACK_UNKNOWN if current == ACK_PENDING else current
    if incoming == ACK_FAILED:
        return ACK_FAILED if current < ACK_READ else current
    return max(current, incoming)


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
    ack: int = ACK_PENDING
    error: str | None = None
    user_id: str | None = None
    created_at: int
    updated_at: int
