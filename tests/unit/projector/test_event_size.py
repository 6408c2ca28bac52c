"""The largest commands ingest accepts make events a Kafka record can hold.

The worst case measured: a reaction's event carries the whole message it reacts to (a
button reply holds its text three times: body, button and raw) and the ticket, whose last
message is another message's text. Both at ingest's command limit, the event must stay under
the record limit, or the projector could never append it and would retry its batch for ever.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tidewire_ingest.command_log_kafka import MAX_COMMAND_BYTES, MAX_RECORD_BYTES, encoded
from tidewire_ingest.routes_webhooks import command_for
from tidewire_ingest.whatsapp import parse_webhook
from tidewire_projector.domain import decide
from tidewire_projector.store_memory import MemoryStore

pytestmark = pytest.mark.unit


def _webhook(message: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1", "phone_number_id": "ph"},
        "contacts": [{"wa_id": "551", "profile": {"name": "C"}}],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "w", "changes": [{"field": "messages", "value": value}]}],
    }


def _largest(make: Any) -> dict[str, Any]:
    """The message `make(n)` with the largest n whose command ingest still accepts."""
    low, high = 1, MAX_COMMAND_BYTES
    while low < high:
        mid = (low + high + 1) // 2
        (fact,) = parse_webhook(_webhook(make(mid)))
        if len(command_for("co", fact).to_bytes()) <= MAX_COMMAND_BYTES:
            low = mid
        else:
            high = mid - 1
    return make(low)  # type: ignore[no-any-return]


async def test_a_reaction_to_the_largest_messages_fits_a_record() -> None:
    button = _largest(
        lambda n: {
            "from": "551",
            "id": "wamid.A",
            "timestamp": "1",
            "type": "button",
            "button": {"text": "x" * n, "payload": "p"},
        }
    )
    text = _largest(
        lambda n: {
            "from": "551",
            "id": "wamid.B",
            "timestamp": "2",
            "type": "text",
            "text": {"body": "y" * n},
        }
    )
    reaction = {
        "from": "551",
        "id": "wamid.C",
        "timestamp": "3",
        "type": "reaction",
        "reaction": {"message_id": "wamid.A", "emoji": "\N{THUMBS UP SIGN}"},
    }
    store = MemoryStore()
    largest_event = 0
    for position, message in enumerate([button, text, reaction]):
        (fact,) = parse_webhook(json.loads(json.dumps(_webhook(message))))
        command = command_for("co", fact)
        encoded(command)  # accepted by ingest
        outcome = await decide(command, position, store)
        await store.apply(outcome)
        largest_event = max([largest_event, *(len(e.to_bytes()) for e in outcome.events)])
    assert largest_event > MAX_COMMAND_BYTES  # the case is the one that grows
    assert largest_event <= MAX_RECORD_BYTES
