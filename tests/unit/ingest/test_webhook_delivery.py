"""A delivery taken per phone number (`webhook_delivery.take_webhook`), with the memory
tenant store and command log: which parts are accepted, what the answer says of the others, and
that a stranger cannot tell an unknown number from a known one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings

from tests.support import whatsapp as wa
from tidewire_ingest.command_log_memory import MemoryCommandLog
from tidewire_ingest.problems import Problem
from tidewire_ingest.webhook_delivery import Delivery, take_webhook
from tidewire_ingest.whatsapp import (
    WebhookSchemaError,
    parse_parts,
    parse_webhook,
    phone_number_ids,
)
from tidewire_platform.tenants import Connection
from tidewire_platform.tenants_memory import MemoryTenantStore

pytestmark = pytest.mark.unit

SECRET_A = "secret-of-app-a"
SECRET_B = "secret-of-app-b"
# phone -> (company, app secret): acme and globex share Meta app A, initech has its own app.
OWNERS = {"pn-acme": ("acme", SECRET_A), "pn-globex": ("globex", SECRET_A)}
OWNERS["pn-initech"] = ("initech", SECRET_B)
TOO_BIG = "x" * 3000  # over the limit of `_log`, whose other commands stay under it


def _tenants() -> MemoryTenantStore:
    return MemoryTenantStore(
        *(
            Connection(company, phone, None, "v", secret)
            for phone, (company, secret) in OWNERS.items()
        )
    )


def _log(down: bool = False) -> MemoryCommandLog:
    """Refuses a command holding TOO_BIG as the Kafka log refuses one past its limit."""
    log = MemoryCommandLog(max_command_bytes=len(TOO_BIG))
    log.down = down
    return log


def _delivery(*changes: dict[str, Any]) -> bytes:
    return json.dumps(wa.envelope(wa.entry(*changes))).encode()


def _text(phone: str, body: str = "oi") -> dict[str, Any]:
    return wa.change(phone, messages=[wa.text_message(body)])


async def _take(raw: bytes, secret: str, log: MemoryCommandLog | None = None) -> Any:
    return await take_webhook(raw, wa.sign(raw, secret), _tenants(), log or _log())


async def _refusal(raw: bytes, secret: str, log: MemoryCommandLog | None = None) -> Problem:
    with pytest.raises(Problem) as caught:
        await _take(raw, secret, log)
    return caught.value


async def test_parts_of_numbers_signed_by_the_app_are_accepted_the_rest_dropped() -> None:
    log = _log()
    raw = _delivery(_text("pn-acme"), _text("pn-nobody"), _text("pn-initech"), _text("pn-globex"))
    delivery = await _take(raw, SECRET_A, log)
    assert delivery.accepted == 2
    assert sorted(c.company_id for c in log.appended) == ["acme", "globex"]
    # An unknown number and a known one whose app did not sign look the same to the sender.
    assert delivery.wire()["dropped"] == [
        {"phone_number_id": "pn-nobody", "reason": "unverified"},
        {"phone_number_id": "pn-initech", "reason": "unverified"},
    ]


async def test_unknown_number_and_bad_signature_alone_are_the_same_401() -> None:
    unknown = await _refusal(_delivery(_text("pn-nobody")), SECRET_A)
    wrong = await _refusal(_delivery(_text("pn-initech")), SECRET_A)
    assert unknown.status == wrong.status == 401
    assert (unknown.title, unknown.detail, unknown.extra) == (wrong.title, wrong.detail, {})


async def test_a_broken_part_drops_itself_only_and_is_described() -> None:
    broken = wa.text_message()
    del broken["from"]
    log = _log()
    raw = _delivery(wa.change("pn-acme", messages=[broken]), _text("pn-globex"))
    delivery = await _take(raw, SECRET_A, log)
    assert delivery.accepted == 1
    assert [c.company_id for c in log.appended] == ["globex"]
    [dropped] = delivery.wire()["dropped"]
    assert dropped == {
        "phone_number_id": "pn-acme",
        "reason": "invalid",
        "loc": "entry.0.changes.0",
        "detail": "entry.0.changes.0.value.messages.0.from: is required",
    }


async def test_a_delivery_with_nothing_acceptable_is_refused_naming_its_parts() -> None:
    broken = wa.text_message()
    del broken["from"]
    raw = _delivery(wa.change("pn-acme", messages=[broken]), _text("pn-nobody"))
    refusal = await _refusal(raw, SECRET_A)
    assert refusal.status == 422
    assert [d["reason"] for d in refusal.extra["dropped"]] == ["invalid", "unverified"]


async def test_a_part_no_record_holds_is_dropped_and_the_others_written() -> None:
    log = _log()
    raw = _delivery(_text("pn-acme", TOO_BIG), _text("pn-globex"), _text("pn-acme", "ok"))
    delivery = await _take(raw, SECRET_A, log)
    assert [c.payload["body"] for c in log.appended] == ["oi", "ok"]
    [dropped] = delivery.dropped
    assert (dropped.reason, dropped.loc, dropped.status) == ("unwritable", "entry.0.changes.0", 413)
    alone = await _refusal(_delivery(_text("pn-acme", TOO_BIG)), SECRET_A)
    assert alone.status == 413


async def test_kafka_failing_refuses_the_whole_delivery_without_naming_hosts() -> None:
    refusal = await _refusal(_delivery(_text("pn-acme")), SECRET_A, _log(down=True))
    assert refusal.status == 503
    assert refusal.headers == {"Retry-After": "5"}
    assert "internal" not in refusal.detail
    assert "9092" not in refusal.detail


async def test_more_phone_numbers_than_allowed_is_refused() -> None:
    raw = _delivery(*(_text(f"pn-{i}") for i in range(4)))
    with pytest.raises(Problem) as caught:
        await take_webhook(raw, wa.sign(raw, SECRET_A), _tenants(), _log(), max_phone_numbers=3)
    assert caught.value.status == 422


async def test_an_entry_whose_changes_cannot_be_read_is_a_part_of_its_own() -> None:
    log = _log()
    body = wa.envelope(wa.entry(_text("pn-acme")), {"id": "2", "changes": "nope"})
    delivery = await _take(json.dumps(body).encode(), SECRET_A, log)
    assert delivery.accepted == 1
    assert delivery.wire()["dropped"] == [
        {
            "phone_number_id": None,
            "reason": "invalid",
            "loc": "entry.1",
            "detail": "entry.1.changes: must be an array",
        }
    ]


@settings(max_examples=60, deadline=None)
@given(body=wa.valid_webhooks())
def test_parts_of_a_valid_delivery_hold_every_fact_in_order(body: dict[str, Any]) -> None:
    parts = parse_parts(body)
    assert all(p.error is None for p in parts)
    assert [f for p in parts for f in p.facts] == parse_webhook(body)
    assert {p.phone_number_id for p in parts} == phone_number_ids(body)


@settings(max_examples=200, deadline=None)
@given(body=wa.mutated_webhooks())
def test_splitting_any_body_raises_nothing_but_a_schema_error(body: Any) -> None:
    """Whatever arrives, a refusal of the whole (schema error) or parts, never a crash."""
    try:
        parts = parse_parts(body)
    except WebhookSchemaError:
        return
    for part in parts:  # a part without its number is always a refused one
        assert part.phone_number_id is not None or part.error is not None
        assert not (part.error is not None and part.facts)


def _owning_every_number(body: Any) -> MemoryTenantStore:
    """Every number the body names belongs to a tenant of app A (so signed bodies reach the
    splitting)."""
    phones = phone_number_ids(body)
    return MemoryTenantStore(*(Connection("acme", p, None, "v", SECRET_A) for p in phones))


@settings(max_examples=100, deadline=None)
@given(body=wa.mutated_webhooks())
async def test_any_signed_body_is_taken_or_refused_with_a_4xx(body: Any) -> None:
    """Whatever a signed delivery holds: a result or a 4xx problem, never another error (a
    500 would be retried by Meta for days); and what is accepted was appended."""
    raw = json.dumps(body).encode()
    log = MemoryCommandLog()
    outcome: Delivery | Problem
    try:
        outcome = await take_webhook(raw, wa.sign(raw, SECRET_A), _owning_every_number(body), log)
    except Problem as exc:
        outcome = exc
    if isinstance(outcome, Problem):
        assert 400 <= outcome.status < 500, outcome.detail
        assert log.appended == []
    else:
        assert outcome.accepted == len(log.appended)
