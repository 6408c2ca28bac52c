"""The simulator's webhooks are what ingest takes: its signature check and its parser accept
them, and each builder yields the fact ingest makes of Meta's shape."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from tidewire_ingest.signature import signature_valid
from tidewire_ingest.whatsapp import WebhookFact, parse_webhook
from tidewire_simulator import webhooks as w

pytestmark = pytest.mark.unit

CUSTOMER, BUSINESS, PHONE = "5511900000001", "15550100001", "demo-phone"


def _facts(messages: Sequence[w.Json] = (), statuses: Sequence[w.Json] = ()) -> list[WebhookFact]:
    body = w.envelope(PHONE, BUSINESS, messages=messages, statuses=statuses)
    return parse_webhook(json.loads(w.encode(body)))


def test_the_signature_is_the_one_ingest_checks() -> None:
    raw = w.encode(
        w.envelope(PHONE, BUSINESS, messages=[w.text(CUSTOMER, "oi", wamid="wamid.1", at=1)])
    )
    assert signature_valid(raw, w.sign(raw, "s3cret"), "s3cret")
    assert not signature_valid(raw, w.sign(raw, "another"), "s3cret")
    assert not signature_valid(raw + b" ", w.sign(raw, "s3cret"), "s3cret")


def test_every_kind_a_customer_sends_parses_as_a_message_of_that_kind() -> None:
    messages = [
        w.text(CUSTOMER, "Hello", wamid="wamid.t", at=1),
        w.image(CUSTOMER, "the receipt", "123", wamid="wamid.i", at=2),
        w.location(CUSTOMER, -23.5, -46.6, "Paulista", "Av. Paulista", wamid="wamid.l", at=3),
        w.reaction(CUSTOMER, "wamid.t", "👍", wamid="wamid.r", at=4),
        w.quoting(w.text(CUSTOMER, "about this", wamid="wamid.q", at=5), "wamid.agent", BUSINESS),
    ]
    facts = _facts(messages)
    assert [(f.type, f.source_id, f.contact_wa_id) for f in facts] == [
        ("message.inbound", m["id"], CUSTOMER) for m in messages
    ]
    kinds = [f.payload["kind"] for f in facts]
    assert kinds == ["text", "image", "location", "reaction", "text"]
    image, location, reaction, quoted = (f.payload for f in facts[1:])
    assert (image["body"], image["media"]["id"]) == ("the receipt", "123")
    assert location["location"]["name"] == "Paulista"
    assert reaction["reaction"] == {"message_id": "wamid.t", "emoji": "👍"}
    assert (quoted["body"], quoted["quoted_wamid"]) == ("about this", "wamid.agent")


@pytest.mark.parametrize("state", ["sent", "delivered", "read"])
def test_statuses_parse_with_their_state(state: str) -> None:
    (fact,) = _facts(statuses=[w.status("wamid.x", state, CUSTOMER, at=9)])
    assert (fact.type, fact.payload["wamid"], fact.payload["status"]) == (
        "message.status",
        "wamid.x",
        state,
    )


def test_a_failed_status_carries_metas_error() -> None:
    (fact,) = _facts(
        statuses=[
            w.status("wamid.x", "failed", CUSTOMER, at=9, error=(131026, "Message undeliverable"))
        ]
    )
    assert fact.payload["status"] == "failed"
    assert fact.payload["errors"][0]["code"] == 131026


def test_the_customers_profile_name_comes_with_their_messages() -> None:
    body = w.envelope(
        PHONE,
        BUSINESS,
        messages=[w.text(CUSTOMER, "oi", wamid="wamid.1", at=1)],
        profiles={CUSTOMER: "Ana Souza"},
    )
    assert body["entry"][0]["changes"][0]["value"]["contacts"] == [
        {"profile": {"name": "Ana Souza"}, "wa_id": CUSTOMER}
    ]
