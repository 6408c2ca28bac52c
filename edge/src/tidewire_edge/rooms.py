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
    return f"company-{event.company_id}-ticket", {
        "action": event.type.split(".", 1)[-1],
        **event.payload,
        "eventId": event.id,
        "cursor": event.cursor,
    }
