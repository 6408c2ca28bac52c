"""The rules of a message's delivery acknowledgement: WhatsApp's statuses, and what the
outbound sender reports of its send (dispatched with a wamid, failed, unknown).

Acks only move forward (`next_ack`); a status for a wamid we do not know yet is parked and
applied when the outbound sender records that wamid. `message.unknown` (the sender got no
answer it can trust) marks only a message still pending without wamid: a wamid recorded first
(the same send's answer, appended by a process that then died) wins, and a wamid recorded
later moves the message on from unknown.
"""

from __future__ import annotations

from typing import Any

from tidewire_platform import limits
from tidewire_platform.acks import Ack, next_ack
from tidewire_platform.contracts import Command
from tidewire_platform.readmodel import Message
from tidewire_projector import bounds
from tidewire_projector.outcome import (
    Outcome,
    ParkedStatus,
    PoisonCommand,
    View,
    event_of,
    required_key,
)


async def _set_ack(
    command: Command, message: Message, ack: int, error: str | None, extra: dict[str, Any]
) -> Outcome:
    out = Outcome(company_id=command.company_id)
    message = bounds.message(message)
    new_ack = next_ack(message.ack, ack)
    changes: dict[str, Any] = dict(extra)
    if new_ack != message.ack:
        changes["ack"] = new_ack
        if new_ack in (Ack.FAILED, Ack.UNKNOWN):
            changes["error"] = bounds.text(error, limits.ERROR_CHARS)
    if not changes or all(getattr(message, k) == v for k, v in changes.items()):
        return out  # nothing changes: no write, no event
    updated = message.model_copy(update={**changes, "updated_at": command.accepted_at})
    out.messages.append(updated)
    out.events.append(
        event_of(command, "message.updated", updated.ticket_id, {"message": updated.wire()})
    )
    return out


async def status(command: Command, position: int, view: View) -> Outcome:
    payload = command.payload
    wamid = required_key(payload, "wamid")
    ack = payload.get("ack")
    if not isinstance(ack, int):
        return Outcome(company_id=command.company_id)  # a state we do not track: kept in Kafka
    errors = payload.get("errors") or []
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


async def dispatched(command: Command, position: int, view: View) -> Outcome:
    payload = command.payload
    wamid = required_key(payload, "wamid")
    message = await view.message(command.company_id, required_key(payload, "message_id"))
    if message is None:
        raise PoisonCommand("message.dispatched for an unknown message")
    parked = await view.parked_status(command.company_id, wamid)
    out = await _set_ack(
        command,
        message,
        parked.ack if parked else Ack.PENDING,
        parked.error if parked else None,
        {"wamid": wamid},
    )
    out.wamids[wamid] = message.id
    return out


async def failed(command: Command, position: int, view: View) -> Outcome:
    payload = command.payload
    message = await view.message(command.company_id, required_key(payload, "message_id"))
    if message is None:
        raise PoisonCommand("message.failed for an unknown message")
    return await _set_ack(command, message, Ack.FAILED, str(payload.get("error") or "failed"), {})


async def unknown(command: Command, position: int, view: View) -> Outcome:
    payload = command.payload
    message = await view.message(command.company_id, required_key(payload, "message_id"))
    if message is None:
        raise PoisonCommand("message.unknown for an unknown message")
    if message.wamid is not None:
        return Outcome(company_id=command.company_id)  # Graph's answer was recorded after all
    reason = str(payload.get("error") or "unknown: no answer from the Graph API")
    return await _set_ack(command, message, Ack.UNKNOWN, reason, {})
