"""The bound of every field that reaches an event, declared once.

Events embed documents (a message, its ticket, its contact), and documents embed what
commands carried; an unbounded field anywhere made events no Kafka record could hold, and the
projector stopped for every tenant. So every field has a bound here, WhatsApp's own where Meta
publishes one (the source is cited next to it), ours otherwise. Ingest applies them: what
Meta sends over a bound is truncated and marked (`truncated` lists the fields cut), since
Meta cannot be asked to send less; what an agent sends over a bound is refused with 422. The
projector applies them again to whatever it carries forward, for commands logged before.

Characters are Python's (code points); where a field is one symbol of unknown length (an
emoji), its bound is in UTF-8 bytes.
"""

from __future__ import annotations

import json
from typing import Any

# --- texts people write ------------------------------------------------------------------------

# A text message's body. Meta: "Maximum 4096 characters" (Cloud API, text messages:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/text-messages).
# Agents' messages are held to it (Graph refuses longer ones); customers' longer texts are cut
# and marked (their whole text stays in the command's `raw`, in the commands log).
TEXT_BODY_CHARS = 4096
# A media caption. Meta: "Maximum 1024 characters" (image, video and document messages:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/image-messages).
CAPTION_CHARS = 1024
# A customer's profile name. Meta publishes no limit for the webhook's `profile.name`;
# WhatsApp's app takes 25 characters as the user sees them (one emoji may be several code
# points), as guides report (e.g. https://whatsapp-tips.com/qa/view/how-can-you-rename-whatsapp).
# 256 code points hold any name the app accepts.
PROFILE_NAME_CHARS = 256
# A reaction is one emoji: "Unicode escape sequence of the emoji, or the emoji itself"
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/reaction-messages).
# The longest standard emoji (ZWJ sequences, tagged flags) are under 40 bytes of UTF-8.
REACTION_EMOJI_BYTES = 64
# A location's name and address: Meta documents both as optional strings without a limit
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/location-messages);
# ours, far above any real place.
LOCATION_NAME_CHARS = 1024
LOCATION_ADDRESS_CHARS = 1024

# --- interactive replies -------------------------------------------------------------------------

# The title a customer tapped: a reply button's ("Maximum length of 20 characters", WhatsApp's
# own SDK reference: https://whatsapp.github.io/WhatsApp-Nodejs-SDK/api-reference/types/ButtonObject),
# a list row's ("Maximum length of 24 characters",
# https://whatsapp.github.io/WhatsApp-Nodejs-SDK/api-reference/types/RowObject) or a template's
# quick-reply button label (25 characters, as summarised in
# https://www.braze.com/docs/ja/user_guide/channels/whatsapp/create_a_whatsapp_message/message_and_image_formats/).
INTERACTIVE_TITLE_CHARS = 25
# A list row's description: "Maximum length of 72 characters" (RowObject, above).
INTERACTIVE_DESCRIPTION_CHARS = 72
# The id of what was tapped: a reply button's "Maximum length of 256 characters", a list
# row's 200 (both above).
INTERACTIVE_ID_CHARS = 256

# --- media ---------------------------------------------------------------------------------------

# Media ids, MIME types and hashes are Meta's (ids are ~16 digits, a sha256 64 hex digits);
# a MIME type is at most 127 + 1 + 127 characters (RFC 6838, section 4.2).
MEDIA_ID_CHARS = 256
MEDIA_MIME_TYPE_CHARS = 255
MEDIA_SHA256_CHARS = 128
# A document's file name: Meta publishes no limit; 255 is the common file-system limit.
MEDIA_FILENAME_CHARS = 255

# --- shared contacts -----------------------------------------------------------------------------

# A contacts message's cards (name, phones, emails, addresses, org, urls: Meta's contacts
# object, https://developers.facebook.com/docs/whatsapp/api/messages/contacts-location-messages).
# Meta publishes no count limit; a card is a few hundred bytes, so these hold dozens.
SHARED_CONTACTS_MAX = 64
SHARED_CONTACTS_BYTES = 32 * 1024

# --- what the projector accumulates -------------------------------------------------------------

# Reactions kept per message (one per reacting WhatsApp id: in a one-to-one chat that is the
# customer alone). Reactions of further ids are dropped once a message has this many.
REACTIONS_PER_MESSAGE = 16
# A delivery error shown on a message (Meta's error titles; Graph's refusals).
ERROR_CHARS = 1024
# A message's kind is Meta's `type` (`text`, `image`, … and types Meta adds later).
KIND_CHARS = 64

# --- ids -----------------------------------------------------------------------------------------

# Ids of ours and of clients (companies, tickets, connections, idempotency keys).
ID_CHARS = 64
# User ids, from an identity provider we do not choose.
USER_ID_CHARS = 256
# WhatsApp's ids (wamids, wa_ids, quoted message ids): Meta's are well under 100 characters;
# keys in Cassandra must stay far below its 64 KiB key limit.
WHATSAPP_ID_CHARS = 256


def clip(text: str, max_chars: int) -> tuple[str, bool]:
    """`text` cut to `max_chars` characters, and whether it was cut."""
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars], True


def clip_bytes(text: str, max_bytes: int) -> tuple[str, bool]:
    """`text` cut to at most `max_bytes` of UTF-8, at a character boundary, and whether it
    was cut."""
    if len(text) * 4 <= max_bytes:  # no character is longer than 4 bytes
        return text, False
    encoded = text[: max_bytes + 1].encode()
    if len(encoded) <= max_bytes:
        return text, False
    return encoded[:max_bytes].decode(errors="ignore"), True


def clip_json(value: Any, max_bytes: int, max_items: int, max_depth: int = 8) -> tuple[Any, bool]:
    """JSON data (a raw object Meta sent) cut to about `max_bytes` of encoded JSON: members
    and items are kept in order while the budget lasts (at most `max_items` per array),
    strings cut to what is left, nesting past `max_depth` dropped. Returns the cut copy and
    whether anything was cut."""
    clipper = _JsonClip(max_bytes, max_items)
    return clipper.value(value, max_depth), clipper.cut


class _JsonClip:
    def __init__(self, budget: int, max_items: int) -> None:
        self.left = budget
        self.max_items = max_items
        self.cut = False

    def value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            try:
                size = len(json.dumps(value))
            except ValueError:  # an integer past Python's digit limit: no JSON for it
                size = self.left + 1
            if size > self.left and value is not None:
                # JSON numbers have no length limit: one past the budget becomes null.
                self.cut = True
                self.left -= 4
                return None
            self.left -= size
            return value
        if depth <= 0 or not isinstance(value, dict | list):
            self.cut = True
            return None
        if isinstance(value, list):
            items: list[Any] = []
            for item in value:
                if self.left <= 0 or len(items) >= self.max_items:
                    self.cut = True
                    break
                items.append(self.value(item, depth - 1))
            return items
        members: dict[str, Any] = {}
        for key, item in value.items():
            if self.left <= 0:
                self.cut = True
                break
            name = self.text(str(key))
            members[name] = self.value(item, depth - 1)
        return members

    def text(self, text: str) -> str:
        kept = text[: max(self.left, 0)]
        size = len(json.dumps(kept, ensure_ascii=False).encode())
        while size > self.left and kept:  # escapes and multi-byte characters: shrink
            kept = kept[: max(len(kept) * self.left // size, 0) if size else 0]
            size = len(json.dumps(kept, ensure_ascii=False).encode())
        if len(kept) < len(text):
            self.cut = True
        self.left -= max(size, 2)
        return kept
