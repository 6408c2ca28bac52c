"""The content of each known WhatsApp message type, read into an inbound fact's payload fields.

Each reader takes the message object (its `type` already checked) and its path, and returns the
payload fields it fills; an unknown type has no reader and is kept by its raw object alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tidewire_ingest.whatsapp_fields import (
    as_object,
    number,
    opt_array,
    opt_bool,
    opt_object,
    opt_string,
    string,
    wa_key,
)

Parts = dict[str, Any]


def _text(msg: dict[str, Any], loc: str) -> Parts:
    text = opt_object(msg, "text", loc)
    return {"body": opt_string(text, "body", f"{loc}.text") if text else None}


def _media(msg: dict[str, Any], loc: str) -> Parts:
    kind = msg["type"]
    obj = opt_object(msg, kind, loc)
    if obj is None:
        return {}
    media_loc = f"{loc}.{kind}"
    media: dict[str, Any] = {
        "id": string(obj, "id", media_loc),
        "mime_type": opt_string(obj, "mime_type", media_loc),
        "sha256": opt_string(obj, "sha256", media_loc),
    }
    filename = opt_string(obj, "filename", media_loc)
    if filename is not None:
        media["filename"] = filename
    for flag in ("voice", "animated"):
        value = opt_bool(obj, flag, media_loc)
        if value is not None:
            media[flag] = value
    return {"media": media, "body": opt_string(obj, "caption", media_loc)}


def _location(msg: dict[str, Any], loc: str) -> Parts:
    obj = opt_object(msg, "location", loc)
    if obj is None:
        return {}
    location_loc = f"{loc}.location"
    location: dict[str, Any] = {
        "latitude": number(obj, "latitude", location_loc),
        "longitude": number(obj, "longitude", location_loc),
    }
    for key in ("name", "address"):
        value = opt_string(obj, key, location_loc)
        if value is not None:
            location[key] = value
    return {"location": location}


def _contacts(msg: dict[str, Any], loc: str) -> Parts:
    if msg.get("contacts") is None:
        return {}
    cards = opt_array(msg, "contacts", loc)
    return {"shared_contacts": [as_object(c, f"{loc}.contacts.{k}") for k, c in enumerate(cards)]}


def _reaction(msg: dict[str, Any], loc: str) -> Parts:
    obj = opt_object(msg, "reaction", loc)
    if obj is None:
        return {}
    reaction_loc = f"{loc}.reaction"
    # Meta omits `emoji` when the customer removes a reaction; "" says the same, explicitly.
    emoji = opt_string(obj, "emoji", reaction_loc) or ""
    return {
        "reaction": {"message_id": wa_key(obj, "message_id", reaction_loc), "emoji": emoji},
        "body": emoji or None,
    }


def _interactive(msg: dict[str, Any], loc: str) -> Parts:
    obj = opt_object(msg, "interactive", loc)
    if obj is None:
        return {}
    interactive_loc = f"{loc}.interactive"
    kind = string(obj, "type", interactive_loc)
    if kind not in ("button_reply", "list_reply"):
        # e.g. flows' nfm_reply: no id/title of its own; the raw object keeps the content.
        return {"interactive": {"kind": kind, "id": None, "title": None}}
    reply_loc = f"{interactive_loc}.{kind}"
    reply = as_object(obj.get(kind), reply_loc)
    title = string(reply, "title", reply_loc)
    out: dict[str, Any] = {"kind": kind, "id": string(reply, "id", reply_loc), "title": title}
    description = opt_string(reply, "description", reply_loc)
    if description is not None:
        out["description"] = description
    return {"interactive": out, "body": title}


def _button(msg: dict[str, Any], loc: str) -> Parts:
    """A quick-reply button of a template; its `payload` plays the role of a reply id."""
    obj = opt_object(msg, "button", loc)
    if obj is None:
        return {}
    button_loc = f"{loc}.button"
    text = opt_string(obj, "text", button_loc)
    payload = opt_string(obj, "payload", button_loc)
    return {"body": text, "interactive": {"kind": "button", "id": payload, "title": text}}


KINDS: dict[str, Callable[[dict[str, Any], str], Parts]] = {
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
