"""What a command means, given the current read models: Whaticket's ticket and message rules.

`decide` reads through a `View` and returns an `Outcome` (documents to write, index entries to
drop, events to append; see `outcome`) without writing anything itself. The projector journals
the outcome before applying it, so a command replayed after a crash re-applies the *same*
outcome instead of folding twice (unread counters would otherwise count a message twice).

Rules, where Whaticket leaves a choice:
- A ticket belongs to one contact on one connection (phone_number_id). An inbound message goes
  to that pair's open or pending ticket; when there is none (never, or the last one is closed)
  a new pending ticket is created. Closed tickets are never reopened: their history stays as it
  was when the agent closed it.
- A reaction updates the reactions of the message it points at; one pointing at a message we
  never saw is kept as a message of kind "reaction" so nothing is dropped (its removal, with
  nothing to remove, changes nothing).
- Acknowledgements (WhatsApp's statuses, the outbound sender's reports) follow the rules of
  `rules_acks`.

Every document built or read here passes through `bounds` before it is written or embedded in
an event, so commands logged before ingest bounded their fields cannot make events grow.
"""

from __future__ import annotations

from typing import Any

from tidewire_platform import limits
from tidewire_platform.acks import Ack
from tidewire_platform.contracts import Command, valid_id, valid_user_id
from tidewire_platform.publications import PUBLICATION, Publication
from tidewire_platform.readmodel import TICKET_STATUSES, Contact, Message, Ticket
from tidewire_projector import bounds, rules_acks
from tidewire_projector.outcome import (
    OpenTicket,
    Outcome,
    PoisonCommand,
    View,
    event_of,
    is_key,
    required_key,
)


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
    payload = command.payload
    if not isinstance(payload, dict):
        return []

    def text(key: str) -> str | None:
        value = payload.get(key)
        return value if is_key(value) else None

    reads: list[tuple[str, tuple[str, ...]]] = []
    if command.type == "message.inbound":
        phone, wa_id = text("phone_number_id"), text("contact_wa_id")
        if phone and wa_id:
            reads += [("contact", (wa_id,)), ("open", (phone, wa_id))]
        reaction = payload.get("reaction")
        target = reaction.get("message_id") if isinstance(reaction, dict) else None
        for wamid in (target, text("quoted_wamid")):
            if is_key(wamid):
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
    payload = command.payload
    company, phone, wa_id = (
        command.company_id,
        required_key(payload, "phone_number_id"),
        required_key(payload, "contact_wa_id"),
    )
    wamid = required_key(payload, "wamid")
    out = Outcome(company_id=company)
    at = command.accepted_at
    occurred = payload.get("occurred_at") or at

    known = await view.contact(company, wa_id)
    contact = bounds.contact(known) if known is not None else None
    name = bounds.text(payload.get("contact_name"), limits.PROFILE_NAME_CHARS)
    if contact is None or (name and name != contact.name):
        contact = Contact(
            id=wa_id, company_id=company, name=name or (contact and contact.name), number=wa_id
        )
    if contact is not known:
        out.contacts.append(contact)  # new, renamed, or cut to its bound

    reaction = payload.get("reaction")
    if reaction:
        target_id = await view.message_id_for_wamid(company, required_key(reaction, "message_id"))
        target = await view.message(company, target_id) if target_id else None
        if target is not None:
            target = bounds.message(target)
            reactions = bounds.react(target.reactions, wa_id, reaction["emoji"])
            updated = target.model_copy(update={"reactions": reactions, "updated_at": at})
            out.messages.append(updated)
            ticket = await view.ticket(company, updated.ticket_id)
            ticket = bounds.ticket(ticket) if ticket is not None else None
            out.events.append(
                event_of(
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

    quoted = payload.get("quoted_wamid")
    if quoted is not None and not is_key(quoted):
        raise PoisonCommand(f"payload.quoted_wamid over {limits.WHATSAPP_ID_CHARS} characters")
    message = bounds.message(
        Message(
            id=command.id,
            company_id=company,
            ticket_id=ticket.id,
            contact_id=wa_id,
            position=position,
            wamid=wamid,
            kind=payload.get("kind") or "text",
            body=payload.get("body") or "",
            media=payload.get("media"),
            location=payload.get("location"),
            shared_contacts=payload.get("shared_contacts"),
            interactive=payload.get("interactive"),
            quoted_msg_id=(await view.message_id_for_wamid(company, quoted)) if quoted else None,
            quoted_wamid=quoted,
            from_me=False,
            ack=Ack.PENDING,
            created_at=occurred,
            updated_at=at,
        ),
        payload.get("truncated"),
    )
    out.messages.append(message)
    out.wamids[wamid] = message.id
    ticket = out.touch(
        ticket,
        unread_messages=ticket.unread_messages + 1,
        last_message=_summary(message),
        updated_at=at,
    )
    out.events.append(
        event_of(
            command,
            "message.created",
            ticket.id,
            {"message": message.wire(), "ticket": ticket.wire(), "contact": contact.wire()},
        )
    )
    return out


async def _send(command: Command, position: int, view: View) -> Outcome:
    payload = command.payload
    body = payload.get("body")
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
            client_message_id=payload.get("client_message_id"),
            body=body,
            from_me=True,
            read=True,
            ack=Ack.PENDING,
            user_id=payload.get("user_id"),
            created_at=at,
            updated_at=at,
        )
    )
    out.messages.append(message)
    # As in Whaticket: an agent who answers has seen what came before.
    ticket = out.touch(ticket, unread_messages=0, last_message=message.body, updated_at=at)
    contact = await view.contact(command.company_id, ticket.contact_id)
    contact = bounds.contact(contact) if contact is not None else None
    out.events.append(
        event_of(
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


async def _update(command: Command, position: int, view: View) -> Outcome:
    payload = command.payload
    ticket = await _ticket_of(command, view)
    changes: dict[str, Any] = {}
    if "status" in payload:
        if payload["status"] not in TICKET_STATUSES:
            raise PoisonCommand(f"unknown ticket status {payload['status']!r}")
        changes["status"] = payload["status"]
    for key, valid in (("user_id", valid_user_id), ("queue_id", valid_id)):
        if key in payload:
            if payload[key] is not None and not valid(payload[key]):
                raise PoisonCommand(f"payload.{key} is not a valid id (too long?)")
            changes[key] = payload[key]
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
    new = out.touch(ticket, **changes, updated_at=command.accepted_at)
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
        event_of(
            command, "ticket.updated", ticket.id, {"ticket": new.wire(), "oldStatus": ticket.status}
        )
    )
    return out


async def _read(command: Command, position: int, view: View) -> Outcome:
    ticket = await _ticket_of(command, view)
    out = Outcome(company_id=command.company_id)
    if ticket.unread_messages == 0:
        return out
    new = out.touch(ticket, unread_messages=0)
    out.events.append(event_of(command, "ticket.read", ticket.id, {"ticket": new.wire()}))
    return out


async def _publication(command: Command, position: int, view: View) -> Outcome:
    """A helpdesk backend's emit becomes an event as it is: no read model of ours changes
    (the helpdesk keeps its own database), and the journal makes its id idempotent."""
    publication = Publication.model_validate(
        {"id": command.payload.get("publication_id"), "company_id": command.company_id}
        | {k: v for k, v in command.payload.items() if k != "publication_id"}
    )
    event = event_of(command, PUBLICATION, None, publication.payload())
    return Outcome(company_id=command.company_id, events=[event])


_HANDLERS = {
    PUBLICATION: _publication,
    "message.inbound": _inbound,
    "message.send": _send,
    "message.status": rules_acks.status,
    "message.dispatched": rules_acks.dispatched,
    "message.failed": rules_acks.failed,
    "message.unknown": rules_acks.unknown,
    "ticket.update": _update,
    "ticket.read": _read,
}
