"""Read-model documents held to the field bounds before the projector carries them forward.

Ingest bounds what it accepts now (`tidewire_platform.limits`), but the commands log keeps
commands accepted before the bounds existed, and read models hold documents folded from them
(a contact name of 585 KB, a message with reactions accumulated across commands). Documents
embed one another in events, so the domain passes every document it builds or reads through
here: an event can then never grow past what the bounds add up to. Each function returns its
argument itself when nothing is over a bound (the common case costs a few length checks), else
a copy with the fields cut and, for messages, named in `truncated`.
"""

from __future__ import annotations

from typing import Any

from tidewire_platform import limits
from tidewire_platform.readmodel import Contact, Message, Ticket

# Budget of each small object a message carries (media, location, interactive reply): what
# ingest's field bounds allow in the worst case (a location's name and address of characters
# JSON escapes to six bytes: 12 KB) stays under it, so only older commands are cut here.
_OBJECT_BYTES = 16 * 1024
_OBJECT_ITEMS = 16
# `truncated` names at most this many fields, of at most this many characters.
_NAMES = 16
_NAME_CHARS = 64


def text(value: str | None, max_chars: int) -> str | None:
    """`value` cut to `max_chars` (None stays None)."""
    return value if value is None else limits.clip(value, max_chars)[0]


def contact(doc: Contact) -> Contact:
    if doc.name is None or len(doc.name) <= limits.PROFILE_NAME_CHARS:
        return doc
    return doc.model_copy(update={"name": text(doc.name, limits.PROFILE_NAME_CHARS)})


def ticket(doc: Ticket) -> Ticket:
    if len(doc.last_message) <= limits.TEXT_BODY_CHARS:
        return doc
    return doc.model_copy(update={"last_message": text(doc.last_message, limits.TEXT_BODY_CHARS)})


def message(doc: Message, cut: object = None) -> Message:
    """`doc` within bounds; `cut` names fields already cut upstream (ingest's `truncated`),
    added to the message's own list."""
    changes: dict[str, Any] = {}
    # Names of fields, as ingest writes them; anything else in a command is not carried.
    names = [n for n in (cut if isinstance(cut, list) else []) if isinstance(n, str)]
    names = [n for n in names if len(n) <= _NAME_CHARS][:_NAMES]
    for field, bound in (
        ("body", limits.TEXT_BODY_CHARS),
        ("kind", limits.KIND_CHARS),
        ("error", limits.ERROR_CHARS),
    ):
        value = getattr(doc, field)
        if value is not None and len(value) > bound:
            changes[field] = value[:bound]
            names.append(field)
    for field in ("media", "location", "interactive"):
        value = getattr(doc, field)
        if value is not None:
            clipped, was_cut = limits.clip_json(value, _OBJECT_BYTES, _OBJECT_ITEMS)
            if was_cut:
                changes[field] = clipped
                names.append(field)
    if doc.shared_contacts is not None:
        cards, was_cut = limits.clip_json(
            doc.shared_contacts, limits.SHARED_CONTACTS_BYTES, limits.SHARED_CONTACTS_MAX
        )
        if was_cut:
            changes["shared_contacts"] = cards
            names.append("shared_contacts")
    kept = reactions(doc.reactions)
    if kept is not doc.reactions:
        changes["reactions"] = kept
        names.append("reactions")
    if names:
        changes["truncated"] = list(dict.fromkeys([*doc.truncated, *names]))
    return doc.model_copy(update=changes) if changes else doc


def reactions(current: dict[str, str]) -> dict[str, str]:
    """`current` with at most `REACTIONS_PER_MESSAGE` reactions (the first ones), each of a
    bounded WhatsApp id and emoji; `current` itself when it already is."""
    fits = len(current) <= limits.REACTIONS_PER_MESSAGE and all(
        len(who) <= limits.WHATSAPP_ID_CHARS and len(emoji) * 4 <= limits.REACTION_EMOJI_BYTES
        for who, emoji in current.items()
    )
    if fits:
        return current
    kept: dict[str, str] = {}
    for who, emoji in current.items():
        if len(kept) == limits.REACTIONS_PER_MESSAGE:
            break
        if len(who) <= limits.WHATSAPP_ID_CHARS:
            kept[who] = limits.clip_bytes(emoji, limits.REACTION_EMOJI_BYTES)[0]
    return current if kept == current else kept


def react(current: dict[str, str], who: str, emoji: str) -> dict[str, str]:
    """The reactions after `who` reacts with `emoji` ("" takes a reaction back). A new
    reactor past `REACTIONS_PER_MESSAGE` is not added: one customer per chat reacts, so only
    forged webhooks get there."""
    out = dict(reactions(current))
    if not emoji:
        out.pop(who, None)
    elif who in out or len(out) < limits.REACTIONS_PER_MESSAGE:
        out[who] = limits.clip_bytes(emoji, limits.REACTION_EMOJI_BYTES)[0]
    return out
