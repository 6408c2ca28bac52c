"""Platform mode's room and event names, in Whaticket's conventions.

Only the names follow Whaticket: the payloads are tidewire's read-model documents and the
tokens tidewire's own, so an existing Whaticket front end does not work against platform mode
as it is; it needs gateway mode (`tidewire_edge.gateway`, docs/gateway.md), where the
helpdesk's backend publishes its own payloads and the edge checks its own tokens.

Every room name starts with the company of the socket's token, so whatever a client asks to
join, it can only ever be in rooms of its own company.

Which events reach a socket follows Whaticket's server: an event goes to its ticket's room, to
the room of the ticket's status and to the notification room, and a ticket that changed status
is announced to the room of the status it left as `delete`. A socket that never joined one of
those rooms (a tidewire client, an SDK) gets every event of its company as it is; once it joins
one, it gets what its rooms get.
"""

from __future__ import annotations

from tidewire_platform.contracts import Event, valid_id
from tidewire_platform.readmodel import TICKET_STATUSES
from tidewire_platform.tokens import Principal


def company_room(company_id: str) -> str:
    return f"company-{company_id}"


def user_room(who: Principal) -> str:
    return f"company-{who.company_id}-user-{who.user_id}"


def ticket_room(company_id: str, ticket_id: str) -> str:
    return f"company-{company_id}-ticket-{ticket_id}"


def status_room(company_id: str, status: str) -> str:
    return f"company-{company_id}-{status}"


def notification_room(company_id: str) -> str:
    return f"company-{company_id}-notification"


def event_rooms(event: Event) -> frozenset[str]:
    """The Whaticket rooms an event is addressed to."""
    c = event.company_id
    rooms = {notification_room(c)}
    if event.ticket_id:
        rooms.add(ticket_room(c, event.ticket_id))
    ticket = event.payload.get("ticket")
    if isinstance(ticket, dict) and isinstance(ticket.get("status"), str):
        rooms.add(status_room(c, ticket["status"]))
    return frozenset(rooms)


def left_room(event: Event) -> str | None:
    """The room of the status a ticket just left: Whaticket's server tells it `delete`, so
    front ends listing that status drop the ticket."""
    if event.type != "ticket.updated":
        return None
    old, ticket = event.payload.get("oldStatus"), event.payload.get("ticket")
    if not isinstance(old, str) or not isinstance(ticket, dict) or ticket.get("status") == old:
        return None
    return status_room(event.company_id, old)


def deletion(event: Event) -> tuple[str, dict[str, object]]:
    """(socket event name, payload) of the `delete` sent to `left_room(event)`."""
    return f"company-{event.company_id}-ticket", {
        "action": "delete",
        "ticketId": event.ticket_id,
        "eventId": event.id,
        "cursor": event.cursor,
        "acceptedAt": event.accepted_at,
    }


def join_room(company_id: str, kind: str, arg: object) -> str:
    """The room a Whaticket join/leave event names; ValueError with the reason if invalid."""
    if kind == "ChatBox":
        ticket = str(arg) if isinstance(arg, (str, int)) else ""
        if not valid_id(ticket):
            raise ValueError("joinChatBox needs a ticket id")
        return ticket_room(company_id, ticket)
    if kind == "Tickets":
        if not isinstance(arg, str) or arg not in TICKET_STATUSES:
            raise ValueError(f"joinTickets needs a status: one of {', '.join(TICKET_STATUSES)}")
        return status_room(company_id, arg)
    return notification_room(company_id)


def socket_event(event: Event) -> tuple[str, dict[str, object]]:
    """(socket event name, payload) for a log event."""
    if event.type.startswith("message."):
        action = "create" if event.type == "message.created" else "update"
        return f"company-{event.company_id}-appMessage", {
            "action": action,
            "message": event.payload.get("message"),
            "ticket": event.payload.get("ticket", {"id": event.ticket_id}),
            "contact": event.payload.get("contact"),
            "eventId": event.id,
            "cursor": event.cursor,
            "acceptedAt": event.accepted_at,
        }
    ticket = event.payload.get("ticket") or {}
    if event.type == "ticket.read":
        body: dict[str, object] = {"action": "updateUnread", "ticketId": event.ticket_id}
    else:
        body = {"action": "update", "ticket": ticket}
    return f"company-{event.company_id}-ticket", {
        **body,
        "eventId": event.id,
        "cursor": event.cursor,
        "acceptedAt": event.accepted_at,
    }
