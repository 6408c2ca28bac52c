"""The largest commands ingest accepts make events far smaller than a Kafka record.

Events embed documents (a message, its ticket, its contact), and before the field bounds a
reaction's event carried the whole message it reacted to, the ticket's copy of another text
and a contact name of any length: a tenant could make events no record holds. Here every
field is at its worst (the longest ingest accepts, of characters JSON escapes to six bytes,
reactions from many senders, a contacts message at the command limit), and the largest
event must stay under 100 KB.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tidewire_ingest.command_log import MAX_COMMAND_BYTES, encoded
from tidewire_ingest.routes_webhooks import command_for
from tidewire_ingest.whatsapp import parse_webhook
from tidewire_platform import limits
from tidewire_projector.domain import decide
from tidewire_projector.store_memory import MemoryStore

pytestmark = pytest.mark.unit

_WORST = "\x01"  # one character, six bytes of JSON (\u0001)
_LARGEST_EVENT = 100_000


def _webhook(message: dict[str, Any], name: str = "C") -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1", "phone_number_id": "ph"},
        "contacts": [{"wa_id": message["from"], "profile": {"name": name}}],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "w", "changes": [{"field": "messages", "value": value}]}],
    }


def _largest(make: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """The webhook `make(n)` with the largest n whose command ingest still accepts."""
    low, high = 1, MAX_COMMAND_BYTES
    while low < high:
        mid = (low + high + 1) // 2
        (fact,) = parse_webhook(make(mid))
        if len(command_for("co", fact).to_bytes()) <= MAX_COMMAND_BYTES:
            low = mid
        else:
            high = mid - 1
    return make(low)


def _message(wamid: str, kind: str, content: Any, sender: str = "551") -> dict[str, Any]:
    return {"from": sender, "id": wamid, "timestamp": "1", "type": kind, kind: content}


def _card(n: int) -> dict[str, Any]:
    return {
        "name": {"formatted_name": _WORST * n, "first_name": _WORST * n},
        "phones": [{"phone": _WORST * 20, "type": "CELL"}] * 5,
    }


async def test_the_worst_commands_make_events_under_100_kb() -> None:
    webhooks = [
        _largest(lambda n: _webhook(_message("wamid.A", "text", {"body": "y"}), _WORST * n)),
        _largest(lambda n: _webhook(_message("wamid.B", "text", {"body": _WORST * n}))),
        _largest(
            lambda n: _webhook(_message("wamid.C", "contacts", [_card(n)] * 100, sender="551"))
        ),
        _largest(
            lambda n: _webhook(
                _message(
                    "wamid.D",
                    "location",
                    {"latitude": 1, "longitude": 2, "name": _WORST * n, "address": _WORST * n},
                )
            )
        ),
    ]
    # Reactions to the contacts message from many senders, each with an oversize "emoji".
    webhooks += [
        _webhook(
            _message(
                f"wamid.R{n}",
                "reaction",
                {"message_id": "wamid.C", "emoji": "\N{THUMBS UP SIGN}" * 100},
                sender=f"55{n:08d}",
            )
        )
        for n in range(2 * limits.REACTIONS_PER_MESSAGE)
    ]
    store = MemoryStore()
    sizes: list[int] = []
    for position, body in enumerate(webhooks):
        (fact,) = parse_webhook(json.loads(json.dumps(body)))
        command = command_for("co", fact)
        encoded(command)  # accepted by ingest
        outcome = await decide(command, position, store)
        await store.apply(outcome)
        sizes += [len(e.to_bytes()) for e in outcome.events]
    contacts = await store.message("co", await store.message_id_for_wamid("co", "wamid.C") or "")
    assert contacts is not None
    assert len(contacts.reactions) == limits.REACTIONS_PER_MESSAGE
    assert "shared_contacts" in contacts.truncated
    place = await store.message("co", await store.message_id_for_wamid("co", "wamid.D") or "")
    assert place is not None  # cut by ingest only: the projector's own bounds are no tighter
    assert place.truncated == ["location.name", "location.address"]
    assert max(sizes) < _LARGEST_EVENT, sizes
