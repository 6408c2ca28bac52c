"""Every field of an inbound message's payload held to its bound (`tidewire_platform.limits`).

Longer texts are cut, never refused (refusing would only make Meta retry the same facts for
days); the payload's `truncated` names what was cut.
"""

from __future__ import annotations

from typing import Any

from tidewire_platform import limits

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


def clip(text: str, max_chars: int, name: str, cut: list[str]) -> str:
    clipped, was_cut = limits.clip(text, max_chars)
    if was_cut:
        cut.append(name)
    return clipped


def _clip_fields(
    obj: dict[str, Any] | None, bounds: dict[str, int], name: str, cut: list[str]
) -> None:
    for key, bound in bounds.items():
        if obj is not None and isinstance(obj.get(key), str):
            obj[key] = clip(obj[key], bound, f"{name}.{key}", cut)


def bounded(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with every field an event embeds held to its bound; `truncated` names the
    fields cut. The content objects are ours (built above), never `raw`'s."""
    cut: list[str] = []
    kind = payload["kind"]
    payload["kind"] = clip(kind, limits.KIND_CHARS, "kind", cut)
    if isinstance(payload["contact_name"], str):
        payload["contact_name"] = clip(
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
        payload["body"] = clip(payload["body"], bound, "body", cut)
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
