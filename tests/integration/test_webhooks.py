"""WhatsApp webhooks through the real ingest into real Kafka: once, keyed, refused cleanly."""

import json

import httpx
import pytest

from tests.support import whatsapp as wa
from tests.support.api import SECRET
from tests.support.kafka import PartitionReader
from tests.support.stack import Services
from tidewire_platform.contracts import Command


def _post(services: Services, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    url = f"{services.ingest_url}/webhooks/whatsapp"
    return httpx.post(url, content=body, headers=headers, timeout=30)


def test_verification_handshake(services: Services, phone: str) -> None:
    ok = httpx.get(
        f"{services.ingest_url}/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": f"vt-{phone}",
            "hub.challenge": "1158201444",
        },
        timeout=15,
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    bad = httpx.get(
        f"{services.ingest_url}/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
        timeout=15,
    )
    assert bad.status_code == 403
    assert bad.headers["content-type"] == "application/problem+json"


async def test_every_type_lands_once_with_key_and_stable_ids(
    services: Services, company: str, phone: str
) -> None:
    sent = wa.text_message(wamid="wamid.sent-1")
    messages = [
        wa.text_message(),
        wa.media_message("image"),
        wa.media_message("audio"),
        wa.media_message("video"),
        wa.media_message("document"),
        wa.media_message("sticker"),
        wa.location_message(),
        wa.contacts_message(),
        wa.reaction_message(sent["id"]),
        wa.interactive_reply(),
        wa.button_message(),
        wa.unknown_message(),
    ]
    statuses = [wa.status(sent["id"], s) for s in ("sent", "delivered", "read", "failed")]
    body = json.dumps(wa.webhook(phone, messages=messages, statuses=statuses)).encode()
    s = services.settings
    async with PartitionReader(s, s.commands_topic, company) as reader:
        first = _post(services, body, wa.sign(body, SECRET))
        again = _post(services, body, wa.sign(body, SECRET))  # Meta's redelivery
        assert (first.status_code, again.status_code) == (200, 200), first.text
        assert first.json() == {"accepted": len(messages) + len(statuses), "dropped": []}
        records = await reader.read(2 * (len(messages) + len(statuses)))
    assert {r.key for r in records} == {company.encode()}
    commands = [Command.from_bytes(r.value) for r in records]
    half = len(commands) // 2
    once, twice = commands[:half], commands[half:]
    assert [c.id for c in once] == [c.id for c in twice]  # redelivery = same ids
    assert len({c.id for c in once}) == half  # distinct facts = distinct ids
    kinds = [c.payload["kind"] for c in once if c.type == "message.inbound"]
    assert kinds == [m["type"] for m in messages]
    acks = [c.payload["ack"] for c in once if c.type == "message.status"]
    assert acks == [1, 2, 3, -1]
    assert all(c.payload["phone_number_id"] == phone for c in once)


@pytest.mark.parametrize(
    "case",
    [
        "no-signature",
        "bad-signature",
        "malformed-signature",
        "unknown-phone",
        "malformed-json",
        "too-deep",
        "huge-integer",
        "schema",
        "too-large",
        "command-too-large",
        "unstorable",
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    services: Services, company: str, phone: str, case: str
) -> None:
    good = json.dumps(wa.webhook(phone, messages=[wa.text_message()])).encode()
    body, signature, expected = good, wa.sign(good, SECRET), 0
    if case == "no-signature":
        signature, expected = None, 401
    elif case == "bad-signature":
        signature, expected = wa.sign(good, "some-other-secret"), 401
    elif case == "malformed-signature":
        signature, expected = "sha256=bogus", 401
    elif case == "unknown-phone":  # answered as a bad signature: no number oracle
        body = json.dumps(wa.webhook("pn-nobody", messages=[wa.text_message()])).encode()
        signature, expected = wa.sign(body, SECRET), 401
    elif case == "malformed-json":
        body, expected = b'{"object": "whatsapp_business_account", ', 400
        signature = wa.sign(body, SECRET)
    elif case == "too-deep":  # deeper than Python's JSON parser follows: 400, never 500
        body, expected = b"[" * 100_000 + b"]" * 100_000, 400
        signature = wa.sign(body, SECRET)
    elif case == "huge-integer":  # past Python's int conversion limit: 400, never 500
        body, expected = b'{"object": ' + b"1" * 5000 + b"}", 400
        signature = wa.sign(body, SECRET)
    elif case == "schema":
        broken = wa.webhook(phone, messages=[wa.text_message()])
        del broken["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
        body = json.dumps(broken).encode()
        signature, expected = wa.sign(body, SECRET), 422
    elif case == "too-large":  # over the webhook body limit (3 MiB by default)
        big = wa.webhook(phone, messages=[wa.text_message("x" * (3 * 1024 * 1024 + 10))])
        body = json.dumps(big).encode()
        signature, expected = wa.sign(body, SECRET), 413
    elif case == "command-too-large":  # under the body limit, but its command (raw message
        # plus parsed text) is more than a Kafka record may be: 413 for good, not 503 for ever
        big = wa.webhook(phone, messages=[wa.text_message("x" * 600_000)])
        body = json.dumps(big).encode()
        signature, expected = wa.sign(body, SECRET), 413
    elif case == "unstorable":  # parses, but nests deeper than the command can be serialised
        nested: dict[str, object] = {}
        for _ in range(300):
            nested = {"n": nested}
        deep = wa.webhook(phone, messages=[wa.text_message("ok"), wa.text_message("x")])
        deep["entry"][0]["changes"][0]["value"]["messages"][1].update(type="order", order=nested)
        body = json.dumps(deep).encode()
        signature, expected = wa.sign(body, SECRET), 422
    s = services.settings
    async with PartitionReader(s, s.commands_topic, company) as reader:
        resp = _post(services, body, signature)
        leftovers = await reader.settle(quiet_s=1.0)
    assert resp.status_code == expected, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["status"] == expected
    if case == "schema":
        assert "messages.0.from" in resp.json()["detail"]
    assert leftovers == []


def test_well_formed_body_without_messages_is_acknowledged(services: Services) -> None:
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
                    ],
                }
            ],
        }
    ).encode()
    # No phone number: no tenant's app secret to check it with, and nothing is written; the
    # header must still be there and have Meta's shape.
    resp = _post(services, body, wa.sign(body, "any-secret"))
    assert (resp.status_code, resp.json()) == (200, {"accepted": 0, "dropped": []})
    assert _post(services, body, "sha256=unused").status_code == 401
    assert _post(services, body, None).status_code == 401
