"""One phone number cannot poison a webhook delivery, nor can a stranger learn which numbers
exist, against the real ingest, Kafka, projector and Cassandra.

- A delivery mixing two tenants' numbers signed by their shared Meta app, an unknown number,
  another tenant's number whose app did not sign it, and a broken change: the good parts
  become tickets, the answer names what was dropped, and an unknown number and a wrongly
  signed one are described alike.
- A stranger posting for an unknown number and for a known one gets the same answer.
- A delivery of exactly the webhook limit (3 MiB, Meta's documented maximum) is taken; one
  byte more is 413.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.support import whatsapp as wa
from tests.support.api import SECRET, Api
from tests.support.stack import Services
from tidewire_deploy.provision import provision
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tokens import issue_token

OTHER_APP_SECRET = "another-meta-app-secret-0123456789"


def _tenant(services: Services, app_secret: str = SECRET) -> tuple[str, str]:
    """A new company with one phone number on the Meta app of `app_secret`."""
    company, phone = f"co-{uuid.uuid4().hex[:12]}", f"pn-{uuid.uuid4().hex[:10]}"
    provision(
        services.settings,
        Tenant(company, "Tenant"),
        Connection(company, phone, "15550001111", f"vt-{phone}", app_secret),
    )
    return company, phone


def _post(services: Services, body: bytes, secret: str) -> httpx.Response:
    return httpx.post(
        f"{services.ingest_url}/webhooks/whatsapp",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": wa.sign(body, secret)},
        timeout=30,
    )


def _change(phone: str, text: str) -> dict[str, Any]:
    return wa.change(phone, messages=[wa.text_message(text, wamid=f"wamid.{uuid.uuid4().hex}")])


def _pending_bodies(settings: StackSettings, services: Services, company: str) -> list[str]:
    """The last message of each pending ticket of `company`, once it has one."""
    api = Api(services.ingest_url, issue_token(settings, company, "agent-1"))
    try:
        tickets = api.until(lambda: api.tickets("pending"), f"a ticket of {company}")
        return sorted(t["lastMessage"] for t in tickets)
    finally:
        api.close()


def test_a_mixed_delivery_keeps_its_good_parts(services: Services) -> None:
    acme, acme_phone = _tenant(services)
    globex, globex_phone = _tenant(services)  # same Meta app as acme: same secret
    _, initech_phone = _tenant(services, OTHER_APP_SECRET)
    unknown_phone = f"pn-{uuid.uuid4().hex[:10]}"
    broken = _change(acme_phone, "lost")
    del broken["value"]["messages"][0]["from"]
    body = json.dumps(
        wa.envelope(
            wa.entry(_change(acme_phone, "acme's message"), _change(unknown_phone, "nobody's")),
            wa.entry(_change(initech_phone, "wrongly signed"), broken),
            wa.entry(_change(globex_phone, "globex's message")),
        )
    ).encode()

    resp = _post(services, body, SECRET)

    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "accepted": 2,
        "dropped": [
            {"phone_number_id": unknown_phone, "reason": "unverified"},
            {"phone_number_id": initech_phone, "reason": "unverified"},
            {
                "phone_number_id": acme_phone,
                "reason": "invalid",
                "loc": "entry.1.changes.1",
                "detail": "entry.1.changes.1.value.messages.0.from: is required",
            },
        ],
    }
    s = services.settings
    assert _pending_bodies(s, services, acme) == ["acme's message"]
    assert _pending_bodies(s, services, globex) == ["globex's message"]
    # Meta redelivering the same delivery (say, after a timeout) adds nothing.
    assert _post(services, body, SECRET).json()["accepted"] == 2
    assert _pending_bodies(s, services, acme) == ["acme's message"]


def test_no_phone_number_oracle(services: Services) -> None:
    """A stranger (no app secret) posting for a number no tenant has, and for one a tenant
    has, gets byte-for-byte the same answer: signature first, routing after."""
    _, known = _tenant(services)
    answers = []
    for phone in (known, f"pn-{uuid.uuid4().hex[:10]}"):
        body = json.dumps(wa.webhook(phone, messages=[wa.text_message()])).encode()
        resp = _post(services, body, "a-secret-the-stranger-made-up")
        answers.append((resp.status_code, resp.headers["content-type"], resp.content))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401


def test_a_delivery_of_metas_maximum_size_is_taken(services: Services) -> None:
    company, phone = _tenant(services)
    limit = 3 * 1024 * 1024  # the default the services run with (`webhook_max_body_bytes`)
    # One message, and the rest of the 3 MiB in a change of another field (Meta batches
    # those with messages; they carry no fact).
    padding = {"field": "account_update", "value": {"event": "x"}}
    delivery = wa.envelope(wa.entry(_change(phone, "big delivery"), padding))
    size = len(json.dumps(delivery).encode())
    padding["value"]["event"] = "x" * (limit - size + 1)
    body = json.dumps(delivery).encode()
    assert len(body) == limit

    taken = _post(services, body, SECRET)
    refused = _post(services, body + b" ", SECRET)  # one byte more (still valid JSON)

    assert (taken.status_code, taken.json()) == (200, {"accepted": 1, "dropped": []})
    assert _pending_bodies(services.settings, services, company) == ["big delivery"]
    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/problem+json"
