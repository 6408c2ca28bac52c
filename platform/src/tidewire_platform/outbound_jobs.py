"""The outbound topic's contract: which events ask for a send to WhatsApp, and what they ask.

The projector (writer) copies every agent's new message (`message.created` with `fromMe`) to
`<prefix>.outbound`; the outbound sender (reader) turns each record into one `Job`. Both sides
decide with `job_of`, so the projector never copies a record the sender would ignore.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tidewire_platform.contracts import Event

log = logging.getLogger("tidewire.outbound")


@dataclass(frozen=True)
class Job:
    """One agent's message to send: whose, where from (phone_number_id), to whom, what."""

    company_id: str
    ticket_id: str | None
    message_id: str
    phone_number_id: str
    to: str
    body: str = ""


# Events are compact JSON (`Event.to_bytes`), so an agent's message always holds this exact
# text: records without it are skipped before paying for a full parse.
_AGENT_MARK = b'"fromMe":true'


def job_of(raw: bytes) -> Job | None:
    """The send an events-log record asks for; None for everything but an agent's new message."""
    if _AGENT_MARK not in raw:
        return None
    try:
        event = Event.from_bytes(raw)
    except ValidationError as exc:
        log.warning("outbound: skipping an unreadable events record: %s", exc)
        return None
    if event.type != "message.created":
        return None
    message: Any = event.payload.get("message")
    ticket: Any = event.payload.get("ticket")
    if not isinstance(message, dict) or message.get("fromMe") is not True:
        return None
    if not isinstance(ticket, dict):
        ticket = {}
    message_id, phone, to = message.get("id"), ticket.get("whatsappId"), ticket.get("contactId")
    if not (isinstance(message_id, str) and isinstance(phone, str) and isinstance(to, str)):
        log.warning("outbound: agent message without id, connection or contact: %s", event.id)
        return None
    body = message.get("body")
    return Job(
        event.company_id,
        event.ticket_id,
        message_id,
        phone,
        to,
        body if isinstance(body, str) else "",
    )
