"""What a command means, given the current read models: Whaticket's ticket and message rules.

`decide` reads through a `View` and returns an `Outcome` (documents to write, index entries to
drop, events to append) without writing anything itself. The projector journals the outcome
before applying it, so a command replayed after a crash re-applies the *same* outcome instead
of folding twice (unread counters would otherwise count a message twice).

Rules, where Whaticket leaves a choice:
- A ticket belongs to one contact on one connection (phone_number_id). An inbound message goes
  to that pair's open or pending ticket; when there is none (never, or the last one is closed)
  a new pending ticket is created. Closed tickets are never reopened: their history stays as it
  was when the agent closed it.
- A reaction updates the reactions of the message it points at; one pointing at a message we
  never saw is kept as a message of kind "reaction" so nothing is dropped (its removal, with
  nothing to remove, changes nothing).
- Acks only move forward (`next_ack`); a status for a wamid we do not know yet is parked and
  applied when the outbound sender records that wamid.
- `message.unknown` (the sender got no answer it can trust) marks only a message still pending
  without wamid: a wamid recorded first (the same send's answer, appended by a process that
  then died) wins, and a wamid recorded later moves the message on from unknown.

Every document built or read here passes through `bounds` before it is written or embedded in
an event, so commands logged before ingest bounded their fields cannot make events grow.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeGuard

from pydantic import BaseModel, Field

from tidewire_platform import limits
from tidewire_platform.contracts import (
    Command,
    Event,
    event_id_for,
    now_ms,
    valid_id,
    valid_user_id,
)
from tidewire_platform.publications import PUBLICATION, Publication
from tidewire_platform.readmodel import (
    ACK_FAILED,
    ACK_PENDING,
    ACK_UNKNOWN,
    TICKET_STATUSES,
    Contact,
    Message,
    Ticket,
    next_ack,
)
from tidewire_projector import bounds


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


async def decide(command: Command, position: int, view: View) -> Outcome:
    """The outcome of `command`, read at `position` of the commands log."""
    handler = _HANDLERS.get(command.type)
    if handler is None:
        raise PoisonCommand(f"no rule for command type {command.type!r}")
    try:
        return await handler(command, position, view)
    except (LookupError, TypeError, AttributeError, ValueError, ArithmeticError) as exc:
        # ValueError includes pydantic's ValidationError. Anything else is not the command's
        # fault (the store failing): the batch is retried rather than dead-lettered.
        raise PoisonCommand(f"{command.type}: malformed payload ({exc!r})") from exc


def first_reads(command: Command) -> list[tuple[str, tuple[str, ...]]]:
    """The documents `decide` reads first for `command`, as (kind, key) pairs of the `View`
    (kinds: contact, open, ticket, wamid, message), so a batch of commands can fetch them
    with a few requests. A hint only: whatever it misses is read when `decide` asks."""
    p = command.payload
    if not isinstance(p, dict):
        return []

    def text(key: str) -> str | None:
        value = p.get(key)
        return value if _key(value) else None

    reads: list[tuple[str, tuple[str, ...]]] = []
    if command.type == "message.inbound":
        phone, wa_id = text("phone_number_id"), text("contact_wa_id")
        if phone and wa_id:
            reads += [("contact", (wa_id,)), ("open", (phone, wa_id))]
        reaction = p.get("reaction")
        target = reaction.get("message_id") if isinstance(reaction, dict) else None
        for wamid in (target, text("quoted_wamid")):
            if _key(wamid):
                reads.append(("wamid", (wamid,)))
    elif command.type == "message.status":
        if wamid := text("wamid"):
            reads.append(("wamid", (wamid,)))
    elif command.type in ("message.dispatched", "message.failed", "message.unknown"):
        if message_id := text("message_id"):
            reads.append(("message", (message_id,)))
    elif command.ticket_id:
        reads.append(("ticket", (command.ticket_id,)))
    return reads


def _key(value: object) -> TypeGuard[str]:
    """Whether `value` can be a key of a read (a non-empty id under Cassandra's key limit)."""
    return isinstance(value, str) and 0 < len(value) <= limits.WHATSAPP_ID_CHARS


def _str(payload: dict[str, Any], key: str) -> str:
    """An id of the payload; a poison command when it is missing or over its bound (a read
    with it would fail in Cassandra on every retry)."""
    value = payload.get(key)
    if not _key(value):
        raise PoisonCommand(
            f"payload.{key} must be a string of 1 to {limits.WHATSAPP_ID_CHARS} characters"
        )
    assert isinstance(value, str)
    return value


def _event(command: Command, type_: str, ticket_id: str, payload: dict[str, Any]) -> Event:
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


def _touch(ticket: Ticket, out: Outcome, **changes: Any) -> Ticket:
    """`ticket` with `changes`, recording the index entry it leaves behind."""
    new = ticket.model_copy(update=changes)
    if (new.status, new.updated_at) != (ticket.status, ticket.updated_at):
        out.index_drops.append(
            IndexDrop(status=ticket.status, updated_at=ticket.updated_at, ticket_id=ticket.id)
        )
    out.tickets.append(new)
    return new


async def _ticket_of(command: Command, view: View) -> Ticket:
    if not command.ticket_id:
        raise PoisonCommand(f"{command.type} without ticket_id")
    ticket = await view.ticket(command.company_id, command.ticket_id)
    if ticket is None:
        raise PoisonCommand(f"{command.type}: no ticket {command.ticket_id!r}")
    return bounds.ticket(ticket)


def _summary(message: Message) -> str:
    return message.body or f"[{message.kind}]"


async def _inbound(command: Command, position: int, view: View) -> Outcome:
    p = command.payload
    company, phone, wa_id = command.company_id, _str(p, "phone_number_id"), _str(p, "contact_wa_id")
    wamid = _str(p, "wamid")
    out = Outcome(company_id=company)
    at = command.accepted_at
    occurred = p.get("occurred_at") or at

    known = await view.contact(company, wa_id)
    contact = bounds.contact(known) if known is not None else None
    name = bounds.text(p.get("contact_name"), limits.PROFILE_NAME_CHARS)
    if contact is None or (name and name != contact.name):
        contact = Contact(
            id=wa_id, company_id=company, name=name or (contact and contact.name), number=wa_id
        )
    if contact is not known:
        out.contacts.append(contact)  # new, renamed, or cut to its bound

    reaction = p.get("reaction")
    if reaction:
        target_id = await view.message_id_for_wamid(company, _str(reaction, "message_id"))
        target = await view.message(company, target_id) if target_id else None
        if target is not None:
            target = bounds.message(target)
            reactions = bounds.react(target.reactions, wa_id, reaction["emoji"])
            updated = target.model_copy(update={"reactions": reactions, "updated_at": at})
            out.messages.append(updated)
            ticket = await view.ticket(company, updated.ticket_id)
            ticket = bounds.ticket(ticket) if ticket is not None else None
            out.events.append(
                _event(
                    command,
                    "message.updated",
                    updated.ticket_id,
                    {
                        "message": updated.wire(),
                        "ticket": ticket.wire() if ticket else None,
                        "contact": contact.wire(),
                    },
                )
            )
            return out
        if not reaction["emoji"]:
            # Taking back a reaction to a message we never saw: nothing to take it from, and
            # an empty "[reaction]" message would only add an unread mark to the ticket.
            return Outcome(company_id=company)

    ticket_id = await view.open_ticket(company, phone, wa_id)
    ticket = await view.ticket(company, ticket_id) if ticket_id else None
    ticket = bounds.ticket(ticket) if ticket is not None else None
    if ticket is None or ticket.status == "closed":
        ticket = Ticket(
            id=f"tk-{command.id[:24]}",
            company_id=company,
            contact_id=wa_id,
            whatsapp_id=phone,
            status="pending",
            created_at=at,
            updated_at=at,
        )
        out.open_tickets.append(OpenTicket(phone=phone, contact_id=wa_id, ticket_id=ticket.id))

    quoted = p.get("quoted_wamid")
    if quoted is not None and not _key(quoted):
        raise PoisonCommand(f"payload.quoted_wamid over {limits.WHATSAPP_ID_CHARS} characters")
    message = bounds.message(
        Message(
            id=command.id,
            company_id=company,
            ticket_id=ticket.id,
            contact_id=wa_id,
            position=position,
            wamid=wamid,
            kind=p.get("kind") or "text",
            body=p.get("body") or "",
            media=p.get("media"),
            location=p.get("location"),
            shared_contacts=p.get("shared_contacts"),
            interactive=p.get("interactive"),
            quoted_msg_id=(await view.message_id_for_wamid(company, quoted)) if quoted else None,
            quoted_wamid=quoted,
            from_me=False,
            ack=ACK_PENDING,
            created_at=occurred,
            updated_at=at,
        ),
        p.get("truncated"),
    )
    out.messages.append(message)
    out.wamids[wamid] = message.id
    ticket = _touch(
        ticket,
        out,
        unread_messages=ticket.unread_messages + 1,
        last_message=_summary(message),
        updated_at=at,
    )
    out.events.append(
        _event(
            command,
            "message.created",
            ticket.id,
            {"message": message.wire(), "ticket": ticket.wire(), "contact": contact.wire()},
        )
    )
    return out


async def _send(command: Command, position: int, view: View) -> Outcome:
    p = command.payload
    body = p.get("body")
    if not isinstance(body, str):
        raise PoisonCommand("message.send without a text body")
    ticket = await _ticket_of(command, view)
    out = Outcome(company_id=command.company_id)
    at = command.accepted_at
    message = bounds.message(
        Message(
            id=command.id,
            company_id=command.company_id,
            ticket_id=ticket.id,
            contact_id=ticket.contact_id,
            position=position,
            client_message_id=p.get("client_message_id"),
            body=body,
            from_me=True,
            read=True,
            ack=ACK_PENDING,
            user_id=p.get("user_id"),
            created_at=at,
            updated_at=at,
        )
    )
    out.messages.append(message)
    # As in Whaticket: an agent who answers has seen what came before.
    ticket = _touch(ticket, out, unread_messages=0, last_message=message.body, updated_at=at)
    contact = await view.contact(command.company_id, ticket.contact_id)
    contact = bounds.contact(contact) if contact is not None else None
    out.events.append(
        _event(
            command,
            "message.created",
            ticket.id,
            {
                "message": message.wire(),
                "ticket": ticket.wire(),
                "contact": contact.wire() if contact else None,
            },
        )
    )
    return out


async def _set_ack(
    command: Command, message: Message, ack: int, error: str | None, extra: dict[str, Any]
) -> Outcome:
    out = Outcome(company_id=command.company_id)
    message = bounds.message(message)
    new_ack = next_ack(message.ack, ack)
    changes: dict[str, Any] = dict(extra)
    if new_ack != message.ack:
        changes["ack"] = new_ack
        if new_ack in (ACK_FAILED, ACK_UNKNOWN):
            changes["error"] = bounds.text(error, limits.ERROR_CHARS)
    if not changes or all(getattr(message, k) == v for k, v in changes.items()):
        return out  # nothing changes: no write, no event
    updated = message.model_copy(update={**changes, "updated_at": command.accepted_at})
    out.messages.append(updated)
    out.events.append(
        _event(command, "message.updated", updated.ticket_id, {"message": updated.wire()})
    )
    return out


async def _status(command: Command, position: int, view: View) -> Outcome:
    p = command.payload
    wamid = _str(p, "wamid")
    ack = p.get("ack")
    if not isinstance(ack, int):
        return Outcome(company_id=command.company_id)  # a state we do not track: kept in Kafka
    errors = p.get("errors") or []
    error = "; ".join(str(e.get("title") or e.get("code")) for e in errors) or None
    error = bounds.text(error, limits.ERROR_CHARS)
    message_id = await view.message_id_for_wamid(command.company_id, wamid)
    message = await view.message(command.company_id, message_id) if message_id else None
    if message is None:
        parked = await view.parked_status(command.company_id, wamid)
        merged = next_ack(parked.ack, ack) if parked else ack
        out = Outcome(company_id=command.company_id)
        if parked is None or merged != parked.ack:
            out.parked.append(ParkedStatus(wamid=wamid, ack=merged, error=error))
        return out
    return await _set_ack(command, message, ack, error, {})


async def _dispatched(command: Command, position: int, view: View) -> Outcome:
    p = command.payload
    wamid = _str(p, "wamid")
    message = await view.message(command.company_id, _str(p, "message_id"))
    if message is None:
        raise PoisonCommand("message.dispatched for an unknown message")
    parked = await view.parked_status(command.company_id, wamid)
    out = await _set_ack(
        command,
        message,
        parked.ack if parked else ACK_PENDING,
        parked.error if parked else None,
        {"wamid": wamid},
    )
    out.wamids[wamid] = message.id
    return out


async def _failed(command: Command, position: int, view: View) -> Outcome:
    p = command.payload
    message = await view.message(command.company_id, _str(p, "message_id"))
    if message is None:
        raise PoisonCommand("message.failed for an unknown message")
    return await _set_ack(command, message, ACK_FAILED, str(p.get("error") or "failed"), {})


async def _unknown(command: Command, position: int, view: View) -> Outcome:
    p = command.payload
    message = await view.message(command.company_id, _str(p, "message_id"))
    if message is None:
        raise PoisonCommand("message.unknown for an unknown message")
    if message.wamid is not None:
        return Outcome(company_id=command.company_id)  # Graph's answer was recorded after all
    reason = str(p.get("error") or "unknown: no answer from the Graph API")
    return await _set_ack(command, message, ACK_UNKNOWN, reason, {})


async def _update(command: Command, position: int, view: View) -> Outcome:
    p = command.payload
    ticket = await _ticket_of(command, view)
    changes: dict[str, Any] = {}
    if "status" in p:
        if p["status"] not in TICKET_STATUSES:
            raise PoisonCommand(f"unknown ticket status {p['status']!r}")
        changes["status"] = p["status"]
    for key, valid in (("user_id", valid_user_id), ("queue_id", valid_id)):
        if key in p:
            if p[key] is not None and not valid(p[key]):
                raise PoisonCommand(f"payload.{key} is not a valid id (too long?)")
            changes[key] = p[key]
    status = changes.get("status", ticket.status)
    active = None  # the ticket holding the (connection, contact) pair, read only when needed
    if "closed" in (status, ticket.status) and status != ticket.status:
        active = await view.open_ticket(command.company_id, ticket.whatsapp_id, ticket.contact_id)
    reopening = ticket.status == "closed" and status != "closed"
    if reopening and active is not None and active != ticket.id:
        # One open or pending ticket per contact and connection (Whaticket refuses such a
        # reopen too): a newer ticket holds the pair, so the status stays closed.
        del changes["status"]
    out = Outcome(company_id=command.company_id)
    if all(getattr(ticket, k) == v for k, v in changes.items()):
        return out
    new = _touch(ticket, out, **changes, updated_at=command.accepted_at)
    if new.status == "closed" and ticket.status != "closed" and active == ticket.id:
        # Closing frees the pair for a new ticket (only if this ticket is the one holding it).
        out.open_tickets.append(
            OpenTicket(phone=ticket.whatsapp_id, contact_id=ticket.contact_id, ticket_id=None)
        )
    elif ticket.status == "closed" and new.status != "closed":
        out.open_tickets.append(  # reopening claims it
            OpenTicket(phone=ticket.whatsapp_id, contact_id=ticket.contact_id, ticket_id=ticket.id)
        )
    out.events.append(
        _event(
            command, "ticket.updated", ticket.id, {"ticket": new.wire(), "oldStatus": ticket.status}
        )
    )
    return out


async def _read(command: Command, position: int, view: View) -> Outcome:
    ticket = await _ticket_of(command, view)
    out = Outcome(company_id=command.company_id)
    if ticket.unread_messages == 0:
        return out
    new = _touch(ticket, out, unread_messages=0)
    out.events.append(_event(command, "ticket.read", ticket.id, {"ticket": new.wire()}))
    return out


async def _publication(command: Command, position: int, view: View) -> Outcome:
    """A helpdesk backend's emit becomes an event as it is: no read model of ours changes
    (the helpdesk keeps its own database), and the journal makes its id idempotent."""
    publication = Publication.model_validate(
        {"id": command.payload.get("publication_id"), "company_id": command.company_id}
        | {k: v for k, v in command.payload.items() if k != "publication_id"}
    )
    event = Event(
        id=event_id_for(command.id),
        type=PUBLICATION,
        company_id=command.company_id,
        ticket_id=None,
        command_id=command.id,
        occurred_at=now_ms(),
        accepted_at=command.accepted_at,
        payload=publication.payload(),
    )
    return Outcome(company_id=command.company_id, events=[event])


_HANDLERS = {
    PUBLICATION: _publication,
    "message.inbound": _inbound,
    "message.send": _send,
    "message.status": _status,
    "message.dispatched": _dispatched,
    "message.failed": _failed,
    "message.unknown": _unknown,
    "ticket.update": _update,
    "ticket.read": _read,
}
