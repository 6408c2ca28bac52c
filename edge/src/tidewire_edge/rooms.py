"""Room and event names, in Whaticket's conventions so existing front ends can connect."""

from __future__ import annotations

from tidewire_platform.contracts import Event


def company_room(company_id: str) -> str:
    return f"company-{company_id}"


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
