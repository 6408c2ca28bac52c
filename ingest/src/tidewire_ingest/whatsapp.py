"""WhatsApp Cloud API webhook payloads turned into facts: pure, no I/O.

A POST body from Meta can batch several entries, each with several changes, each with several
messages and statuses; every one becomes a `WebhookFact`, in payload order (within a change:
its messages, then its statuses). Only changes with `field == "messages"` carry facts; other
fields and value-level `errors` are ignored.

Strict where it matters, tolerant elsewhere. The fields that identify and route a fact (ids,
sender, timestamp, type, `metadata.phone_number_id`) are required; optional fields may be absent
or null; any field we read that is present with the wrong JSON type is refused, with its path.
Message types we do not know (Meta adds them over time: `order`, `system`, `unsupported`, …) are
kept with their raw object: dropping them would lose a customer's message for good, because we
answer Meta 200 once the facts are durable.

Nothing but `WebhookSchemaError` escapes, whatever the input: the caller maps it to 422, and any
other exception would be a 500 that Meta retries for days.

Every field that reaches an event is held to its bound (`tidewire_platform.limits`): longer
texts are cut and the payload's `truncated` lists what was cut (absent when nothing was), since
refusing would only make Meta retry the same facts for days. `raw` keeps what Meta sent.

This module walks the envelope (entries, changes) and builds the facts; beside it,
`whatsapp_fields` (typed access with paths), `whatsapp_kinds` (each message type's content) and
`whatsapp_bounds` (the bounds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tidewire_ingest.whatsapp_bounds import bounded, clip
from tidewire_ingest.whatsapp_fields import (
    MAX_KEY_CHARS,
    MAX_RAW_DEPTH,
    WebhookSchemaError,
    as_array,
    as_object,
    opt_array,
    opt_int,
    opt_object,
    opt_string,
    opt_wa_key,
    seconds,
    shallow,
    string,
    wa_key,
)
from tidewire_ingest.whatsapp_kinds import KINDS
from tidewire_platform import limits
from tidewire_platform.acks import OF_WHATSAPP_STATUS

__all__ = [
    "MAX_KEY_CHARS",
    "MAX_RAW_DEPTH",
    "FactType",
    "WebhookFact",
    "WebhookPart",
    "WebhookSchemaError",
    "parse_parts",
    "parse_webhook",
    "phone_number_ids",
]

FactType = Literal["message.inbound", "message.status"]


@dataclass(frozen=True)
class WebhookFact:
    """One message or status from a webhook, ready to become a command.

    `payload` is JSON-serialisable; its `raw` shares objects with the parsed body (not copied).
    """

    phone_number_id: str
    type: FactType
    source_id: str
    contact_wa_id: str
    occurred_at: int
    payload: dict[str, Any]


def parse_webhook(body: Any) -> list[WebhookFact]:
    """Every message and status of every `messages` change, in payload order."""
    root = as_object(body, "body")
    kind = root.get("object")
    if kind != "whatsapp_business_account":
        raise WebhookSchemaError("object", "must be 'whatsapp_business_account'")
    facts: list[WebhookFact] = []
    for i, entry in enumerate(as_array(root.get("entry"), "entry")):
        entry_loc = f"entry.{i}"
        changes = as_array(as_object(entry, entry_loc).get("changes"), f"{entry_loc}.changes")
        for j, change in enumerate(changes):
            facts += _change(change, f"{entry_loc}.changes.{j}")
    return facts


def phone_number_ids(body: Any) -> set[str]:
    """The `metadata.phone_number_id` of every `messages` change; never raises.

    Used to find the tenant (and its app secret) before the body is trusted; every fact that
    `parse_webhook` returns carries one of these ids.
    """
    found: set[str] = set()
    entries = body.get("entry") if isinstance(body, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            phone = _phone_of(change)
            if phone is not None:
                found.add(phone)
    return found


def _phone_of(change: Any) -> str | None:
    """The `value.metadata.phone_number_id` of a `messages` change, if it names one."""
    if not isinstance(change, dict) or change.get("field") != "messages":
        return None
    value = change.get("value")
    metadata = value.get("metadata") if isinstance(value, dict) else None
    phone = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    return phone if isinstance(phone, str) and phone else None


@dataclass(frozen=True)
class WebhookPart:
    """One change of a delivery that carries or may carry facts: the phone number it names
    (None when it names none: then it has an `error`), and its facts or why it is refused."""

    loc: str
    phone_number_id: str | None
    facts: list[WebhookFact]
    error: WebhookSchemaError | None = None


def parse_parts(body: Any) -> list[WebhookPart]:
    """Every `messages` change parsed on its own, in payload order, so that a change refused
    costs only its own facts, never another phone number's. An entry whose `changes` cannot be
    read is a part of its own (no phone number, an error). Raises `WebhookSchemaError` only for
    a body that is no webhook at all (its root, `object` or `entry`)."""
    root = as_object(body, "body")
    if root.get("object") != "whatsapp_business_account":
        raise WebhookSchemaError("object", "must be 'whatsapp_business_account'")
    parts: list[WebhookPart] = []
    for i, entry in enumerate(as_array(root.get("entry"), "entry")):
        entry_loc = f"entry.{i}"
        try:
            changes = as_array(as_object(entry, entry_loc).get("changes"), f"{entry_loc}.changes")
        except WebhookSchemaError as exc:
            parts.append(WebhookPart(entry_loc, None, [], exc))
            continue
        for j, change in enumerate(changes):
            loc = f"{entry_loc}.changes.{j}"
            try:
                facts = _change(change, loc)
            except WebhookSchemaError as exc:
                parts.append(WebhookPart(loc, _phone_of(change), [], exc))
                continue
            if isinstance(change, dict) and change.get("field") == "messages":
                parts.append(WebhookPart(loc, _phone_of(change), facts))
    return parts


def _change(change: Any, loc: str) -> list[WebhookFact]:
    obj = as_object(change, loc)
    if string(obj, "field", loc) != "messages":
        return []
    value_loc = f"{loc}.value"
    value = as_object(obj.get("value"), value_loc)
    metadata = as_object(value.get("metadata"), f"{value_loc}.metadata")
    phone = string(metadata, "phone_number_id", f"{value_loc}.metadata")
    display = opt_string(metadata, "display_phone_number", f"{value_loc}.metadata")
    names = _contact_names(value, value_loc)
    facts: list[WebhookFact] = []
    for k, message in enumerate(opt_array(value, "messages", value_loc)):
        facts.append(_message(message, f"{value_loc}.messages.{k}", phone, display, names))
    for k, status in enumerate(opt_array(value, "statuses", value_loc)):
        facts.append(_status(status, f"{value_loc}.statuses.{k}", phone))
    return facts


def _contact_names(value: dict[str, Any], loc: str) -> dict[str, str]:
    """Profile names by wa_id, from the change's `contacts[]` (entries without both skipped)."""
    names: dict[str, str] = {}
    for k, contact in enumerate(opt_array(value, "contacts", loc)):
        contact_loc = f"{loc}.contacts.{k}"
        obj = as_object(contact, contact_loc)
        wa_id = opt_string(obj, "wa_id", contact_loc)
        profile = opt_object(obj, "profile", contact_loc)
        name = opt_string(profile, "name", f"{contact_loc}.profile") if profile else None
        if wa_id and name is not None:
            names[wa_id] = name
    return names


def _message(
    message: Any, loc: str, phone: str, display: str | None, names: dict[str, str]
) -> WebhookFact:
    obj = shallow(as_object(message, loc), loc)
    wamid = wa_key(obj, "id", loc)
    sender = wa_key(obj, "from", loc)
    occurred_at = seconds(obj, loc) * 1000
    kind = string(obj, "type", loc)
    context = opt_object(obj, "context", loc)
    payload: dict[str, Any] = {
        "wamid": wamid,
        "kind": kind,
        "body": None,
        "media": None,
        "location": None,
        "shared_contacts": None,
        "reaction": None,
        "interactive": None,
        "quoted_wamid": opt_wa_key(context, "id", f"{loc}.context") if context else None,
        "contact_name": names.get(sender),
        "display_phone_number": display,
        "raw": obj,
    }
    content = KINDS.get(kind)
    if content is not None:
        payload.update(content(obj, loc))
    return WebhookFact(phone, "message.inbound", wamid, sender, occurred_at, bounded(payload))


def _status(status: Any, loc: str, phone: str) -> WebhookFact:
    obj = shallow(as_object(status, loc), loc)
    wamid = wa_key(obj, "id", loc)
    state = wa_key(obj, "status", loc)
    occurred_at = seconds(obj, loc) * 1000
    recipient = wa_key(obj, "recipient_id", loc)
    payload: dict[str, Any] = {
        "wamid": wamid,
        "status": state,
        "ack": OF_WHATSAPP_STATUS.get(state),  # None: a state no ack stands for
        "errors": [
            _error(e, f"{loc}.errors.{k}") for k, e in enumerate(opt_array(obj, "errors", loc))
        ],
        "conversation": opt_object(obj, "conversation", loc),
        "pricing": opt_object(obj, "pricing", loc),
        "raw": obj,
    }
    cut: list[str] = []
    for error in payload["errors"]:
        for key in ("title", "message", "details"):
            if isinstance(error.get(key), str):
                error[key] = clip(error[key], limits.ERROR_CHARS, f"errors.{key}", cut)
    if cut:
        payload["truncated"] = sorted(set(cut))
    # One fact per (message, state): a redelivered status gets the same source id.
    return WebhookFact(phone, "message.status", f"{wamid}:{state}", recipient, occurred_at, payload)


def _error(error: Any, loc: str) -> dict[str, Any]:
    obj = as_object(error, loc)
    out: dict[str, Any] = {
        "code": opt_int(obj, "code", loc),
        "title": opt_string(obj, "title", loc),
    }
    message = opt_string(obj, "message", loc)
    if message is not None:
        out["message"] = message
    data = opt_object(obj, "error_data", loc)
    details = opt_string(data, "details", f"{loc}.error_data") if data else None
    if details is not None:
        out["details"] = details
    return out
