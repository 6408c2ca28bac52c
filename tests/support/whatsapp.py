"""WhatsApp Cloud API webhook bodies for tests: factories for each part, and hypothesis strategies.

Factories build the shapes Meta documents (strings for timestamps, `contacts[]` next to
`messages[]`, conversation and pricing on statuses); tests state only what they check.
`valid_webhooks()` generates batched bodies of any size and mix; `mutated_webhooks()` breaks
them one key or value at a time.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import strategies as st

from tidewire_simulator import webhooks

Json = dict[str, Any]

PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "15550783881"
CUSTOMER = "5511987654321"
TIMESTAMP = 1_700_000_000

_serial = itertools.count(1)


def _wamid() -> str:
    return f"wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA{next(_serial):06d}"


def _message(
    kind: str,
    content: Any,
    *,
    wamid: str | None,
    sender: str,
    timestamp: int,
    quoted: str | None,
) -> Json:
    message: Json = {"from": sender, "id": wamid or _wamid(), "timestamp": str(timestamp)}
    if quoted is not None:
        message["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": quoted}
    message["type"] = kind
    if content is not None:
        message[kind] = content
    return message


def text_message(
    body: str = "Olá, preciso de ajuda",
    *,
    wamid: str | None = None,
    sender: str = CUSTOMER,
    timestamp: int = TIMESTAMP,
    quoted: str | None = None,
) -> Json:
    return _message(
        "text", {"body": body}, wamid=wamid, sender=sender, timestamp=timestamp, quoted=quoted
    )


def media_message(
    kind: str,
    *,
    media_id: str = "1234567890123456",
    mime_type: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
    voice: bool | None = None,
    animated: bool | None = None,
    wamid: str | None = None,
    sender: str = CUSTOMER,
    timestamp: int = TIMESTAMP,
    quoted: str | None = None,
) -> Json:
    """An image, audio, video, document or sticker; only the given optional fields appear."""
    default_mime = {
        "image": "image/jpeg",
        "audio": "audio/ogg; codecs=opus",
        "video": "video/mp4",
        "document": "application/pdf",
        "sticker": "image/webp",
    }
    media: Json = {
        "mime_type": mime_type or default_mime.get(kind, "application/octet-stream"),
        "sha256": hashlib.sha256(media_id.encode()).hexdigest(),
        "id": media_id,
    }
    optional = {"caption": caption, "filename": filename, "voice": voice, "animated": animated}
    media.update({k: v for k, v in optional.items() if v is not None})
    return _message(kind, media, wamid=wamid, sender=sender, timestamp=timestamp, quoted=quoted)


def location_message(
    latitude: float = -23.5505,
    longitude: float = -46.6333,
    *,
    name: str | None = None,
    address: str | None = None,
    wamid: str | None = None,
    sender: str = CUSTOMER,
    timestamp: int = TIMESTAMP,
) -> Json:
    location: Json = {"latitude": latitude, "longitude": longitude}
    if name is not None:
        location["name"] = name
    if address is not None:
        location["address"] = address
    return _message(
        "location", location, wamid=wamid, sender=sender, timestamp=timestamp, quoted=None
    )


def contact_card(name: str = "Maria Souza", phone: str = "+55 11 91234-5678") -> Json:
    """One card of a shared-contacts message."""
    first, _, last = name.partition(" ")
    return {
        "name": {"formatted_name": name, "first_name": first, "last_name": last},
        "phones": [{"phone": phone, "type": "CELL"}],
    }


def contacts_message(
    cards: Sequence[Json] | None = None,
    *,
    wamid: str | None = None,
    sender: str = CUSTOMER,
    timestamp: int = TIMESTAMP,
) -> Json:
    content = list(cards) if cards is not None else [contact_card()]
    return _message(
        "contacts", content, wamid=wamid, sender=sender, timestamp=timestamp, quoted=None
    )


def reaction_message(
    message_id: str,
    emoji: str | None = "👍",
    *,
    wamid: str | None = None,
    sender: str = CUSTOMER,
    timestamp: int = TIMESTAMP,
) -> Json:
    """`emoji=None` is a removed reaction, which Meta sends without the `emoji` field."""
    reaction: Json = {"message_id": message_id}
    if emoji is not None:
        reaction["emoji"] = emoji
    return _message(
        "reaction", reaction, wamid=wamid, sender=sender, timestamp=timestamp, quoted=None
    )


def interactive_reply(
    kind: str = "button_reply",
    *,
    reply_id: str = "opt-1",
    title: str = "Falar com atendente",
    description: str | None = None,
    wamid: str | None = None,
    sender: str = CUSTOMER,
    timestamp: int = TIMESTAMP,
    quoted: str | None = "wamid.menu",
) -> Json:
    """A reply to an interactive message we sent: `button_reply` or `list_reply`."""
    reply: Json = {"id": reply_id, "title": title}
    if description is not None:
        reply["description"] = description
    content = {"type": kind, kind: reply}
    return _message(
        "interactive", content, wamid=wamid, sender=sender, timestamp=timestamp, quoted=quoted
    )


def button_message(
    text: str = "Sim",
    *,
    payload: str = "CONFIRM_YES",
    wamid: str | None = None,
    sender: str = CUSTOMER,
    timestamp: int = TIMESTAMP,
    quoted: str | None = "wamid.template",
) -> Json:
    """A quick-reply button of a template message."""
    content = {"payload": payload, "text": text}
    return _message(
        "button", content, wamid=wamid, sender=sender, timestamp=timestamp, quoted=quoted
    )


def unknown_message(
    kind: str = "unsupported",
    content: Any = None,
    *,
    wamid: str | None = None,
    sender: str = CUSTOMER,
    timestamp: int = TIMESTAMP,
) -> Json:
    """A type we do not model (default: Meta's `unsupported`, which comes with `errors`)."""
    message = _message(kind, content, wamid=wamid, sender=sender, timestamp=timestamp, quoted=None)
    if kind == "unsupported" and content is None:
        message["errors"] = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]
    return message


def failure(
    code: int = 131026,
    title: str = "Message undeliverable",
    *,
    message: str | None = "Message undeliverable",
    details: str | None = "Message Undeliverable.",
) -> Json:
    """One entry of a failed status's `errors`."""
    error: Json = {"code": code, "title": title}
    if message is not None:
        error["message"] = message
    if details is not None:
        error["error_data"] = {"details": details}
    error["href"] = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
    return error


def conversation_info(origin: str = "service") -> Json:
    return {
        "id": "a75d17ad06104c51166f948319b03c6a",
        "expiration_timestamp": str(TIMESTAMP + 86_400),
        "origin": {"type": origin},
    }


def pricing_info(category: str = "service") -> Json:
    return {"billable": True, "pricing_model": "CBP", "category": category}


def status(
    wamid: str,
    state: str,
    *,
    recipient_id: str = CUSTOMER,
    timestamp: int = TIMESTAMP,
    errors: Sequence[Json] | None = None,
    billed: bool | None = None,
) -> Json:
    """A status of a message we sent. Like Meta, `sent` carries conversation and pricing
    unless `billed=False`; `failed` carries one `failure()` unless `errors` says otherwise."""
    out: Json = {
        "id": wamid,
        "status": state,
        "timestamp": str(timestamp),
        "recipient_id": recipient_id,
    }
    if billed is None:
        billed = state == "sent"
    if billed:
        out["conversation"] = conversation_info()
        out["pricing"] = pricing_info()
    if errors is None and state == "failed":
        errors = [failure()]
    if errors:
        out["errors"] = list(errors)
    return out


def contact(wa_id: str = CUSTOMER, name: str = "João da Silva") -> Json:
    """One entry of a change's `contacts[]`: who sent the messages next to it."""
    return {"profile": {"name": name}, "wa_id": wa_id}


def change(
    phone_number_id: str = PHONE_NUMBER_ID,
    messages: Sequence[Json] = (),
    statuses: Sequence[Json] = (),
    contacts: Sequence[Json] | None = None,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
) -> Json:
    """A `messages` change. Without `contacts`, each distinct sender gets a profile entry,
    as Meta sends one whenever there are messages."""
    value: Json = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }
    if contacts is None:
        senders = dict.fromkeys(
            m["from"] for m in messages if isinstance(m, dict) and isinstance(m.get("from"), str)
        )
        contacts = [contact(wa_id, f"Cliente {wa_id[-4:]}") for wa_id in senders]
    if contacts:
        value["contacts"] = list(contacts)
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"value": value, "field": "messages"}


def entry(*changes: Json, waba_id: str = "102290129340398") -> Json:
    return {"id": waba_id, "changes": list(changes)}


def envelope(*entries: Json) -> Json:
    return {"object": "whatsapp_business_account", "entry": list(entries)}


def webhook(
    phone_number_id: str = PHONE_NUMBER_ID,
    messages: Sequence[Json] = (),
    statuses: Sequence[Json] = (),
    contacts: Sequence[Json] | None = None,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
) -> Json:
    """A whole POST body with one entry and one change: the common case."""
    return envelope(
        entry(change(phone_number_id, messages, statuses, contacts, display_phone_number))
    )


# The `X-Hub-Signature-256` value Meta sends for these exact bytes: the simulator's, one
# implementation for the tests and the demo.
sign = webhooks.sign


def facts_in(body: Json) -> int:
    """How many messages and statuses a valid body carries in its `messages` changes."""
    return sum(
        len(c["value"].get("messages", [])) + len(c["value"].get("statuses", []))
        for e in body["entry"]
        for c in e["changes"]
        if c["field"] == "messages"
    )


# --- hypothesis strategies ---------------------------------------------------------------------

_digits = st.text("0123456789", min_size=8, max_size=14)
wa_ids = st.builds(lambda d: "55" + d, _digits)
wamids = st.builds(
    lambda d: "wamid." + d, st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=", min_size=8)
)
timestamps = st.integers(min_value=0, max_value=4_102_444_800)
texts = st.text(max_size=40)
_MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
# Types Meta sends that we keep only raw, plus invented future ones.
_OTHER_KINDS = ("unsupported", "order", "system", "request_welcome", "hologram")

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _common() -> dict[str, st.SearchStrategy[Any]]:
    return {"wamid": wamids, "sender": wa_ids, "timestamp": timestamps}


def _messages() -> st.SearchStrategy[Json]:
    optional_text = st.none() | texts
    return st.one_of(
        st.builds(text_message, texts, quoted=st.none() | wamids, **_common()),
        st.builds(
            media_message,
            st.sampled_from(_MEDIA_KINDS),
            media_id=_digits,
            caption=optional_text,
            filename=optional_text,
            voice=st.none() | st.booleans(),
            animated=st.none() | st.booleans(),
            quoted=st.none() | wamids,
            **_common(),
        ),
        st.builds(
            location_message,
            st.floats(-90, 90),
            st.floats(-180, 180),
            name=optional_text,
            address=optional_text,
            **_common(),
        ),
        st.builds(
            contacts_message,
            st.lists(st.builds(contact_card, texts, _digits), min_size=1, max_size=3),
            **_common(),
        ),
        st.builds(
            reaction_message, wamids, st.none() | st.sampled_from(["👍", "❤️", ""]), **_common()
        ),
        st.builds(
            interactive_reply,
            st.sampled_from(["button_reply", "list_reply"]),
            reply_id=_digits,
            title=st.text(min_size=1, max_size=20),
            description=optional_text,
            **_common(),
        ),
        st.builds(button_message, texts, payload=texts, **_common()),
        st.builds(
            unknown_message,
            st.sampled_from(_OTHER_KINDS),
            st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
            **_common(),
        ),
    )


def _statuses() -> st.SearchStrategy[Json]:
    states = st.sampled_from(["sent", "delivered", "read", "played", "failed", "deleted"])
    return st.builds(
        status,
        wamids,
        states,
        recipient_id=wa_ids,
        timestamp=timestamps,
        errors=st.none() | st.lists(st.builds(failure, st.integers(0, 200_000), texts), max_size=2),
        billed=st.none() | st.booleans(),
    )


def _changes() -> st.SearchStrategy[Json]:
    phone_ids = st.sampled_from([PHONE_NUMBER_ID, "106540352242999"])
    messages_change = st.builds(
        change,
        phone_ids,
        st.lists(_messages(), max_size=4),
        st.lists(_statuses(), max_size=4),
    )
    # Other fields share the envelope and carry no facts.
    other_change = st.builds(
        lambda field, value: {"field": field, "value": value},
        st.sampled_from(["message_template_status_update", "account_update"]),
        st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    )
    value_errors = st.builds(lambda phone: _with_value_errors(change(phone)), phone_ids)
    return st.one_of(messages_change, messages_change, other_change, value_errors)


def _with_value_errors(body: Json) -> Json:
    body["value"]["errors"] = [failure(130429, "Rate limit hit")]
    return body


def valid_webhooks() -> st.SearchStrategy[Json]:
    """Bodies of 1–3 entries with 1–3 changes each, any mix of message types and states."""
    entries = st.builds(lambda cs: entry(*cs), st.lists(_changes(), min_size=1, max_size=3))
    return st.builds(lambda es: envelope(*es), st.lists(entries, min_size=1, max_size=3))


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterable[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*at, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*at, index))


def _json_type(value: Any) -> str:
    if value is None or isinstance(value, bool | str | list | dict):
        return type(value).__name__
    return "number"


@st.composite
def _mutate(draw: st.DrawFn, body: Any) -> Any:
    """Delete one key (or array item) at any depth, or replace one value with a JSON value of
    another type. The root itself is replaced only once nothing is left inside it (wrong roots
    are cheap to generate directly; here the interest is in the depths)."""
    root: Any = copy.deepcopy(body)
    paths = list(_paths(root))[1:]
    if not paths:
        return draw(json_values.filter(lambda v: _json_type(v) != _json_type(root)))
    # Uniform over paths: sampled_from and integers favour the first ones (the top-level keys),
    # and the interest is in the depths. The seed is drawn, so failures still replay.
    *above, last = draw(st.randoms(use_true_random=True)).choice(paths)
    parent = root
    for key in above:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[last]
    else:
        old = parent[last]
        parent[last] = draw(json_values.filter(lambda v: _json_type(v) != _json_type(old)))
    return root


def mutated_webhooks() -> st.SearchStrategy[Any]:
    """A valid body after one to three random mutations."""

    def mutate_times(body: Json, times: int) -> st.SearchStrategy[Any]:
        strategy: st.SearchStrategy[Any] = st.just(body)
        for _ in range(times):
            strategy = strategy.flatmap(_mutate)
        return strategy

    return st.tuples(valid_webhooks(), st.integers(1, 3)).flatmap(lambda bt: mutate_times(*bt))
