"""Wire contracts of the two logs: commands (intentions) and events (facts).

Both are JSON on Kafka, keyed by company. Ids are stable: a command id is derived from its
source (wamid, status id + state, client_message_id), and an event id from the command id, so
redelivery anywhere in the pipeline is recognisable and deduplicated downstream.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tidewire_platform.limits import ID_CHARS, USER_ID_CHARS

CommandType = Literal[
    "message.send",  # agent sends a message to a ticket
    "message.inbound",  # WhatsApp delivered a customer's message
    "message.status",  # WhatsApp status update (sent/delivered/read/failed)
    "ticket.update",  # agent changes status, assignee or queue
    "ticket.read",  # agent read the ticket: unread counter back to zero
    "message.dispatched",  # the Graph API accepted an agent's message and named its wamid
    "message.failed",  # the Graph API refused an agent's message for good
    "message.unknown",  # the Graph API may or may not have sent it (timeout, 5xx): never resent
    "publication",  # gateway mode: a helpdesk backend's emit (publications.py)
]


# Ids that end up in keys, room names, URLs and log lines: companies, tickets, phone number
# ids, client idempotency keys. One rule everywhere, so whatever an entry point accepts, every
# later stage accepts too (a company id the command contract refused once made a tenant whose
# every webhook failed).
ID_PATTERN = rf"^[A-Za-z0-9._:-]{{1,{ID_CHARS}}}$"
_ID = re.compile(ID_PATTERN)


def valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None  # no trailing newline


# User ids come from an identity provider we do not choose (`ana@example.com`,
# `auth0|5f…`): any text without spaces or control characters, bounded. They name rooms and
# assignees, never keys of other tenants' data.
USER_ID_PATTERN = rf"^[^\x00-\x20\x7f]{{1,{USER_ID_CHARS}}}$"
_USER_ID = re.compile(USER_ID_PATTERN)


def valid_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def now_ms() -> int:
    """Wall-clock milliseconds; the unit of every *_at field on the wire."""
    return time.time_ns() // 1_000_000


def stable_id(*parts: str) -> str:
    """A deterministic id from the parts that identify a fact at its source."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return digest[:32]


class Command(BaseModel):
    """An intention accepted by ingest, durable once Kafka acknowledged it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    type: CommandType
    company_id: str = Field(min_length=1, max_length=64)
    ticket_id: str | None = None
    accepted_at: int = Field(default_factory=now_ms, description="ms since epoch at ingest")
    payload: dict[str, Any] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Command:
        return cls.model_validate_json(data)


class Event(BaseModel):
    """A fact the projector established; fanned out to browsers by the edge.

    `cursor` is not stored in the log (a record cannot know its own offset before it is
    written); readers fill it from the record's position.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    company_id: str
    ticket_id: str | None = None
    command_id: str
    occurred_at: int
    accepted_at: int
    payload: dict[str, Any] = Field(default_factory=dict)
    cursor: str | None = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude={"cursor"}).encode()

    @classmethod
    def from_bytes(cls, data: bytes, cursor: str | None = None) -> Event:
        event = cls.model_validate_json(data)
        event.cursor = cursor
        return event


def event_id_for(command_id: str, index: int = 0) -> str:
    """Stable id of the `index`-th event produced by a command."""
    return stable_id("event", command_id, str(index))
