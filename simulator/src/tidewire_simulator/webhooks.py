"""WhatsApp Cloud API webhook bodies as Meta sends them, and their signature (pure).

Shapes follow Meta's documentation: timestamps as strings, `contacts[]` next to `messages[]`,
conversation and pricing on a `sent` status, `errors[]` on a `failed` one. Only what a
simulated customer sends is built here: text, image with caption, location, reaction, and a
text quoting an earlier message (`context`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]

WEBHOOK_PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
ERROR_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"


def new_wamid() -> str:
    """A fresh WhatsApp message id (Meta's are opaque base64; only uniqueness matters here)."""
    return f"wamid.{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def _message(sender: str, kind: str, content: Json, *, wamid: str, at: int) -> Json:
    return {"from": sender, "id": wamid, "timestamp": str(at), "type": kind, kind: content}


def text(sender: str, body: str, *, wamid: str, at: int) -> Json:
    return _message(sender, "text", {"body": body}, wamid=wamid, at=at)


def quoting(message: Json, quoted_wamid: str, quoted_from: str) -> Json:
    """`message` as a reply to `quoted_wamid` (the customer swiped it): Meta adds `context`
    naming the quoted message and who sent it (our number, for an agent's message)."""
    return {**message, "context": {"from": quoted_from, "id": quoted_wamid}}


def image(sender: str, caption: str, media_id: str, *, wamid: str, at: int) -> Json:
    content = {
        "caption": caption,
        "mime_type": "image/jpeg",
        "sha256": hashlib.sha256(media_id.encode()).hexdigest(),
        "id": media_id,
    }
    return _message(sender, "image", content, wamid=wamid, at=at)


def location(
    sender: str, latitude: float, longitude: float, name: str, address: str, *, wamid: str, at: int
) -> Json:
    content = {"latitude": latitude, "longitude": longitude, "name": name, "address": address}
    return _message(sender, "location", content, wamid=wamid, at=at)


def reaction(sender: str, to_wamid: str, emoji: str, *, wamid: str, at: int) -> Json:
    return _message(
        sender, "reaction", {"message_id": to_wamid, "emoji": emoji}, wamid=wamid, at=at
    )


def status(
    wamid: str, state: str, recipient: str, *, at: int, error: tuple[int, str] | None = None
) -> Json:
    """A status of a message the business sent; `error` (code, title) for `failed`."""
    out: Json = {"id": wamid, "status": state, "timestamp": str(at), "recipient_id": recipient}
    if state == "sent":
        out["conversation"] = {
            "id": uuid.uuid5(uuid.NAMESPACE_URL, recipient).hex,
            "expiration_timestamp": str(at + 86_400),
            "origin": {"type": "service"},
        }
        out["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if error is not None:
        code, title = error
        out["errors"] = [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": title},
                "href": ERROR_HREF,
            }
        ]
    return out


def envelope(
    phone_number_id: str,
    display_phone_number: str,
    *,
    messages: Sequence[Json] = (),
    statuses: Sequence[Json] = (),
    profiles: dict[str, str] | None = None,
    waba_id: str = "sim-waba",
) -> Json:
    """A whole webhook body: one entry, one `messages` change. `profiles` maps each sender's
    wa_id to its profile name (Meta sends a contact for every sender of the messages)."""
    value: Json = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }
    if messages:
        names = profiles or {}
        senders = dict.fromkeys(m["from"] for m in messages)
        value["contacts"] = [{"profile": {"name": names.get(s, s)}, "wa_id": s} for s in senders]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    change = {"value": value, "field": "messages"}
    return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [change]}]}


def encode(body: Json) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends for these exact bytes."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
