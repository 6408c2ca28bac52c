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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tidewire_platform import limits
from tidewire_platform.readmodel import Ack

FactType = Literal["message.inbound", "message.status"]

# WhatsApp status -> canonical delivery acknowledgement (ordered: a later state never goes back).
# "played" is sent for voice messages after "read".
_ACKS: dict[str, Ack] = {
    "failed": Ack.FAILED,
    "sent": Ack.SENT,
    "delivered": Ack.DELIVERED,
    "read": Ack.READ,
    "played": Ack.PLAYED,
}

# Messages and statuses travel whole (`raw`) inside the command. The projector's JSON parser
# stops at 200 levels, so a deeper object accepted here would be answered 200 and then be
# dead-lettered: refused instead. Meta's own objects nest fewer than ten levels.
MAX_RAW_DEPTH = 64
MAX_KEY_CHARS = limits.WHATSAPP_ID_CHARS

# Unix seconds with at most 11 digits (until the year 5138); also keeps int() away from
# Python's limit on digit strings.
_MAX_SECONDS = 10**11 - 1

_Parts = dict[str, Any]


class WebhookSchemaError(ValueError):
    """Payload violates the webhook schema. `.loc` is the path (e.g.
    "entry.0.changes.0.value.messages.1.type"); the root itself is "body"."""

    loc: str

    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc


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
    root = _object(body, "body")
    kind = root.get("object")
    if kind != "whatsapp_business_account":
        raise WebhookSchemaError("object", "must be 'whatsapp_business_account'")
    facts: list[WebhookFact] = []
    for i, entry in enumerate(_array(root.get("entry"), "entry")):
        entry_loc = f"entry.{i}"
        changes = _array(_object(entry, entry_loc).get("changes"), f"{entry_loc}.changes")
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
    root = _object(body, "body")
    if root.get("object") != "whatsapp_business_account":
        raise WebhookSchemaError("object", "must be 'whatsapp_business_account'")
    parts: list[WebhookPart] = []
    for i, entry in enumerate(_array(root.get("entry"), "entry")):
        entry_loc = f"entry.{i}"
        try:
            changes = _array(_object(entry, entry_loc).get("changes"), f"{entry_loc}.changes")
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
    obj = _object(change, loc)
    if _string(obj, "field", loc) != "messages":
        return []
    value_loc = f"{loc}.value"
    value = _object(obj.get("value"), value_loc)
    metadata = _object(value.get("metadata"), f"{value_loc}.metadata")
    phone = _string(metadata, "phone_number_id", f"{value_loc}.metadata")
    display = _opt_string(metadata, "display_phone_number", f"{value_loc}.metadata")
    names = _contact_names(value, value_loc)
    facts: list[WebhookFact] = []
    for k, message in enumerate(_opt_array(value, "messages", value_loc)):
        facts.append(_message(message, f"{value_loc}.messages.{k}", phone, display, names))
    for k, status in enumerate(_opt_array(value, "statuses", value_loc)):
        facts.append(_status(status, f"{value_loc}.statuses.{k}", phone))
    return facts


def _contact_names(value: dict[str, Any], loc: str) -> dict[str, str]:
    """Profile names by wa_id, from the change's `contacts[]` (entries without both skipped)."""
    names: dict[str, str] = {}
    for k, contact in enumerate(_opt_array(value, "contacts", loc)):
        contact_loc = f"{loc}.contacts.{k}"
        obj = _object(contact, contact_loc)
        wa_id = _opt_string(obj, "wa_id", contact_loc)
        profile = _opt_object(obj, "profile", contact_loc)
        name = _opt_string(profile, "name", f"{contact_loc}.profile") if profile else None
        if wa_id and name is not None:
            names[wa_id] = name
    return names


def _message(
    message: Any, loc: str, phone: str, display: str | None, names: dict[str, str]
) -> WebhookFact:
    obj = _shallow(_object(message, loc), loc)
    wamid = _key(obj, "id", loc)
    sender = _key(obj, "from", loc)
    occurred_at = _seconds(obj, loc) * 1000
    kind = _string(obj, "type", loc)
    context = _opt_object(obj, "context", loc)
    payload: dict[str, Any] = {
        "wamid": wamid,
        "kind": kind,
        "body": None,
        "media": None,
        "location": None,
        "shared_contacts": None,
        "reaction": None,
        "interactive": None,
        "quoted_wamid": _opt_key(context, "id", f"{loc}.context") if context else None,
        "contact_name": names.get(sender),
        "display_phone_number": display,
        "raw": obj,
    }
    content = _KINDS.get(kind)
    if content is not None:
        payload.update(content(obj, loc))
    return WebhookFact(phone, "message.inbound", wamid, sender, occurred_at, _bounded(payload))


def _status(status: Any, loc: str, phone: str) -> WebhookFact:
    obj = _shallow(_object(status, loc), loc)
    wamid = _key(obj, "id", loc)
    state = _key(obj, "status", loc)
    occurred_at = _seconds(obj, loc) * 1000
    recipient = _key(obj, "recipient_id", loc)
    payload: dict[str, Any] = {
        "wamid": wamid,
        "status": state,
        "ack": _ACKS.get(state),
        "errors": [
            _error(e, f"{loc}.errors.{k}") for k, e in enumerate(_opt_array(obj, "errors", loc))
        ],
        "conversation": _opt_object(obj, "conversation", loc),
        "pricing": _opt_object(obj, "pricing", loc),
        "raw": obj,
    }
    cut: list[str] = []
    for error in payload["errors"]:
        for key in ("title", "message", "details"):
            if isinstance(error.get(key), str):
                error[key] = _clip(error[key], limits.ERROR_CHARS, f"errors.{key}", cut)
    if cut:
        payload["truncated"] = sorted(set(cut))
    # One fact per (message, state): a redelivered status gets the same source id.
    return WebhookFact(phone, "message.status", f"{wamid}:{state}", recipient, occurred_at, payload)


def _error(error: Any, loc: str) -> dict[str, Any]:
    obj = _object(error, loc)
    out: dict[str, Any] = {
        "code": _opt_int(obj, "code", loc),
        "title": _opt_string(obj, "title", loc),
    }
    message = _opt_string(obj, "message", loc)
    if message is not None:
        out["message"] = message
    data = _opt_object(obj, "error_data", loc)
    details = _opt_string(data, "details", f"{loc}.error_data") if data else None
    if details is not None:
        out["details"] = details
    return out


# --- content of each known message type -------------------------------------------------------


def _text(msg: dict[str, Any], loc: str) -> _Parts:
    text = _opt_object(msg, "text", loc)
    return {"body": _opt_string(text, "body", f"{loc}.text") if text else None}


def _media(msg: dict[str, Any], loc: str) -> _Parts:
    kind = msg["type"]
    obj = _opt_object(msg, kind, loc)
    if obj is None:
        return {}
    media_loc = f"{loc}.{kind}"
    media: dict[str, Any] = {
        "id": _string(obj, "id", media_loc),
        "mime_type": _opt_string(obj, "mime_type", media_loc),
        "sha256": _opt_string(obj, "sha256", media_loc),
    }
    filename = _opt_string(obj, "filename", media_loc)
    if filename is not None:
        media["filename"] = filename
    for flag in ("voice", "animated"):
        value = _opt_bool(obj, flag, media_loc)
        if value is not None:
            media[flag] = value
    return {"media": media, "body": _opt_string(obj, "caption", media_loc)}


def _location(msg: dict[str, Any], loc: str) -> _Parts:
    obj = _opt_object(msg, "location", loc)
    if obj is None:
        return {}
    location_loc = f"{loc}.location"
    location: dict[str, Any] = {
        "latitude": _number(obj, "latitude", location_loc),
        "longitude": _number(obj, "longitude", location_loc),
    }
    for key in ("name", "address"):
        value = _opt_string(obj, key, location_loc)
        if value is not None:
            location[key] = value
    return {"location": location}


def _contacts(msg: dict[str, Any], loc: str) -> _Parts:
    if msg.get("contacts") is None:
        return {}
    cards = _opt_array(msg, "contacts", loc)
    return {"shared_contacts": [_object(c, f"{loc}.contacts.{k}") for k, c in enumerate(cards)]}


def _reaction(msg: dict[str, Any], loc: str) -> _Parts:
    obj = _opt_object(msg, "reaction", loc)
    if obj is None:
        return {}
    reaction_loc = f"{loc}.reaction"
    # Meta omits `emoji` when the customer removes a reaction; "" says the same, explicitly.
    emoji = _opt_string(obj, "emoji", reaction_loc) or ""
    return {
        "reaction": {"message_id": _key(obj, "message_id", reaction_loc), "emoji": emoji},
        "body": emoji or None,
    }


def _interactive(msg: dict[str, Any], loc: str) -> _Parts:
    obj = _opt_object(msg, "interactive", loc)
    if obj is None:
        return {}
    interactive_loc = f"{loc}.interactive"
    kind = _string(obj, "type", interactive_loc)
    if kind not in ("button_reply", "list_reply"):
        # e.g. flows' nfm_reply: no id/title of its own; the raw object keeps the content.
        return {"interactive": {"kind": kind, "id": None, "title": None}}
    reply_loc = f"{interactive_loc}.{kind}"
    reply = _object(obj.get(kind), reply_loc)
    title = _string(reply, "title", reply_loc)
    out: dict[str, Any] = {"kind": kind, "id": _string(reply, "id", reply_loc), "title": title}
    description = _opt_string(reply, "description", reply_loc)
    if description is not None:
        out["description"] = description
    return {"interactive": out, "body": title}


def _button(msg: dict[str, Any], loc: str) -> _Parts:
    """A quick-reply button of a template; its `payload` plays the role of a reply id."""
    obj = _opt_object(msg, "button", loc)
    if obj is None:
        return {}
    button_loc = f"{loc}.button"
    text = _opt_string(obj, "text", button_loc)
    payload = _opt_string(obj, "payload", button_loc)
    return {"body": text, "interactive": {"kind": "button", "id": payload, "title": text}}


_KINDS: dict[str, Callable[[dict[str, Any], str], _Parts]] = {
    "text": _text,
    "image": _media,
    "audio": _media,
    "video": _media,
    "document": _media,
    "sticker": _media,
    "location": _location,
    "contacts": _contacts,
    "reaction": _reaction,
    "interactive": _interactive,
    "button": _button,
}


# --- bounds (tidewire_platform.limits) -------------------------------------------------------

# What a message's `body` holds, by kind, and its bound.
_BODY_CHARS = {
    "image": limits.CAPTION_CHARS,
    "video": limits.CAPTION_CHARS,
    "document": limits.CAPTION_CHARS,
    "audio": limits.CAPTION_CHARS,
    "sticker": limits.CAPTION_CHARS,
    "interactive": limits.INTERACTIVE_TITLE_CHARS,
    "button": limits.INTERACTIVE_TITLE_CHARS,
}
_MEDIA_CHARS = {
    "id": limits.MEDIA_ID_CHARS,
    "mime_type": limits.MEDIA_MIME_TYPE_CHARS,
    "sha256": limits.MEDIA_SHA256_CHARS,
    "filename": limits.MEDIA_FILENAME_CHARS,
}
_LOCATION_CHARS = {"name": limits.LOCATION_NAME_CHARS, "address": limits.LOCATION_ADDRESS_CHARS}
_INTERACTIVE_CHARS = {
    "kind": limits.KIND_CHARS,
    "id": limits.INTERACTIVE_ID_CHARS,
    "title": limits.INTERACTIVE_TITLE_CHARS,
    "description": limits.INTERACTIVE_DESCRIPTION_CHARS,
}


def _clip(text: str, max_chars: int, name: str, cut: list[str]) -> str:
    clipped, was_cut = limits.clip(text, max_chars)
    if was_cut:
        cut.append(name)
    return clipped


def _clip_fields(
    obj: dict[str, Any] | None, bounds: dict[str, int], name: str, cut: list[str]
) -> None:
    for key, bound in bounds.items():
        if obj is not None and isinstance(obj.get(key), str):
            obj[key] = _clip(obj[key], bound, f"{name}.{key}", cut)


def _bounded(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with every field an event embeds held to its bound; `truncated` names the
    fields cut. The content objects are ours (built above), never `raw`'s."""
    cut: list[str] = []
    kind = payload["kind"]
    payload["kind"] = _clip(kind, limits.KIND_CHARS, "kind", cut)
    if isinstance(payload["contact_name"], str):
        payload["contact_name"] = _clip(
            payload["contact_name"], limits.PROFILE_NAME_CHARS, "contact_name", cut
        )
    reaction = payload["reaction"]
    if reaction is not None:
        emoji, emoji_cut = limits.clip_bytes(reaction["emoji"], limits.REACTION_EMOJI_BYTES)
        if emoji_cut:
            cut.append("reaction.emoji")
        reaction["emoji"] = emoji
        payload["body"] = emoji or None
    elif isinstance(payload["body"], str):
        bound = _BODY_CHARS.get(kind, limits.TEXT_BODY_CHARS)
        payload["body"] = _clip(payload["body"], bound, "body", cut)
    _clip_fields(payload["media"], _MEDIA_CHARS, "media", cut)
    _clip_fields(payload["location"], _LOCATION_CHARS, "location", cut)
    _clip_fields(payload["interactive"], _INTERACTIVE_CHARS, "interactive", cut)
    if payload["shared_contacts"] is not None:
        cards, cards_cut = limits.clip_json(
            payload["shared_contacts"], limits.SHARED_CONTACTS_BYTES, limits.SHARED_CONTACTS_MAX
        )
        if cards_cut:
            cut.append("shared_contacts")
        payload["shared_contacts"] = cards
    if cut:
        payload["truncated"] = cut
    return payload


# --- typed access with paths -------------------------------------------------------------------


def _shallow(obj: dict[str, Any], loc: str) -> dict[str, Any]:
    """`obj` if it nests at most `MAX_RAW_DEPTH` levels of objects and arrays."""
    level: list[Any] = [obj]
    for _ in range(MAX_RAW_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return obj
    raise WebhookSchemaError(loc, f"nests deeper than {MAX_RAW_DEPTH} levels")


def _object(value: Any, loc: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookSchemaError(loc, "must be an object" if value is not None else "is required")
    return value


def _array(value: Any, loc: str) -> list[Any]:
    if not isinstance(value, list):
        raise WebhookSchemaError(loc, "must be an array" if value is not None else "is required")
    return value


def _string(obj: dict[str, Any], key: str, loc: str) -> str:
    value = obj.get(key)
    if value is None:
        raise WebhookSchemaError(f"{loc}.{key}", "is required")
    if not isinstance(value, str) or not value:
        raise WebhookSchemaError(f"{loc}.{key}", "must be a non-empty string")
    return value


def _key(obj: dict[str, Any], key: str, loc: str) -> str:
    """A string the projector uses in a Cassandra key (wamids, WhatsApp ids, states): bounded,
    because Cassandra refuses keys over 64 KiB and the projector would retry such a batch
    forever. Meta's are well under a hundred characters."""
    value = _string(obj, key, loc)
    if len(value) > MAX_KEY_CHARS:
        raise WebhookSchemaError(f"{loc}.{key}", f"longer than {MAX_KEY_CHARS} characters")
    return value


def _opt_key(obj: dict[str, Any], key: str, loc: str) -> str | None:
    value = _opt_string(obj, key, loc)
    if value is not None and len(value) > MAX_KEY_CHARS:
        raise WebhookSchemaError(f"{loc}.{key}", f"longer than {MAX_KEY_CHARS} characters")
    return value


def _opt_string(obj: dict[str, Any], key: str, loc: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise WebhookSchemaError(f"{loc}.{key}", "must be a string")
    return value


def _opt_object(obj: dict[str, Any], key: str, loc: str) -> dict[str, Any] | None:
    value = obj.get(key)
    return None if value is None else _object(value, f"{loc}.{key}")


def _opt_array(obj: dict[str, Any], key: str, loc: str) -> list[Any]:
    value = obj.get(key)
    return [] if value is None else _array(value, f"{loc}.{key}")


def _opt_bool(obj: dict[str, Any], key: str, loc: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise WebhookSchemaError(f"{loc}.{key}", "must be a boolean")
    return value


def _opt_int(obj: dict[str, Any], key: str, loc: str) -> int | None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise WebhookSchemaError(f"{loc}.{key}", "must be an integer")
    return value


def _number(obj: dict[str, Any], key: str, loc: str) -> float | int:
    value = obj.get(key)
    if value is None:
        raise WebhookSchemaError(f"{loc}.{key}", "is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookSchemaError(f"{loc}.{key}", "must be a number")
    return value


def _seconds(obj: dict[str, Any], loc: str) -> int:
    """`timestamp`: unix seconds, sent by Meta as a string of digits (an integer is accepted)."""
    value = obj.get("timestamp")
    if value is None:
        raise WebhookSchemaError(f"{loc}.timestamp", "is required")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 11:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_SECONDS:
        return value
    raise WebhookSchemaError(f"{loc}.timestamp", "must be unix seconds (digits or an integer)")
