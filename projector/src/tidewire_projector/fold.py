"""Pure step: what a command means (read-model rows and events), with no I/O.

Kept free of Kafka and Cassandra so the domain rules can be tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidewire_platform.contracts import Command, Event, event_id_for, now_ms


class PoisonCommand(ValueError):
    """A command that can never be applied (goes to the dead-letter topic)."""


@dataclass(frozen=True)
class MessageRow:
    company_id: str
    ticket_id: str
    position: int
    message_id: str
    body: str
    from_me: bool
    ack: int
    created_at_ms: int


@dataclass(frozen=True)
class Outcome:
    rows: list[MessageRow]
    events: list[Event]


def fold(command: Command, position: int) -> Outcome:
    """Fold one command read at `position` of the commands log."""
    if command.type != "message.send":
        # The walking skeleton projects agent messages only; other types arrive with ingest.
        return Outcome([], [])
    if not command.ticket_id:
        raise PoisonCommand("message.send without ticket_id")
    body = command.payload.get("body")
    if not isinstance(body, str):
        raise PoisonCommand("message.send without a text body")
    occurred = now_ms()
    row = MessageRow(
        command.company_id,
        command.ticket_id,
        position,
        command.id,
        body,
        True,
        0,
        command.accepted_at,
    )
    message: dict[str, Any] = {
        "id": command.id,
        "ticketId": command.ticket_id,
        "body": body,
        "fromMe": True,
        "ack": 0,
        "createdAt": command.accepted_at,
        "clientMessageId": command.payload.get("client_message_id"),
    }
    event = Event(
        id=event_id_for(command.id),
        type="message.created",
        company_id=command.company_id,
        ticket_id=command.ticket_id,
        command_id=command.id,
        occurred_at=occurred,
        accepted_at=command.accepted_at,
        payload={"message": message},
    )
    return Outcome([row], [event])
