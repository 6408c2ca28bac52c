"""What simulated customers write: an opening text first, then every kind, reactions and
quotes naming messages of their own conversation, answers to agents' messages."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tidewire_simulator.customers import Customer, answer, crowd, next_message

pytestmark = pytest.mark.unit

BUSINESS = "15550100001"


def _kind(message: dict[str, object]) -> str:
    return "reply" if "context" in message else str(message["type"])


def test_customers_have_stable_distinct_whatsapp_ids_per_company() -> None:
    first = crowd("demo", 12)
    assert [c.wa_id for c in first] == [c.wa_id for c in crowd("demo", 12)]
    assert len({c.wa_id for c in first}) == 12
    assert {c.wa_id for c in first}.isdisjoint(c.wa_id for c in crowd("demo-2", 12))
    assert all(c.wa_id.isdigit() and len(c.wa_id) == 13 for c in first)


def test_a_customer_opens_with_a_text_then_writes_every_kind() -> None:
    rng = random.Random(5)
    customer = Customer("5511900000001", "Ana")
    opening = next_message(rng, customer, BUSINESS, 1)
    assert opening["type"] == "text"
    later = [next_message(rng, customer, BUSINESS, 2) for _ in range(300)]
    seen = Counter(_kind(m) for m in later)
    assert set(seen) == {"text", "image", "location", "reaction", "reply"}
    assert all(m["image"]["caption"] for m in later if m["type"] == "image")  # type: ignore[index]
    assert all(m["from"] == customer.wa_id for m in [opening, *later])


def test_reactions_and_quotes_name_messages_of_the_conversation() -> None:
    rng = random.Random(9)
    customer = Customer("5511900000001", "Ana")
    customer.agents.append("wamid.agent")
    messages = [next_message(rng, customer, BUSINESS, 1) for _ in range(200)]
    earlier = {"wamid.agent", *customer.own}
    for m in messages:
        if m["type"] == "reaction":
            assert m["reaction"]["message_id"] in earlier  # type: ignore[index]
        if "context" in m:
            quoted = m["context"]["id"]  # type: ignore[index]
            assert quoted in earlier
            # Who wrote the quoted message: the business for an agent's, else the customer.
            expected = BUSINESS if quoted == "wamid.agent" else customer.wa_id
            assert m["context"]["from"] == expected  # type: ignore[index]
    assert len(customer.own) == sum(m["type"] != "reaction" for m in messages)


def test_an_answer_to_an_agent_reacts_to_quotes_or_thanks() -> None:
    rng = random.Random(2)
    kinds = Counter()
    for i in range(100):
        customer = Customer("5511900000001", "Ana")
        m = answer(rng, customer, f"wamid.agent{i}", BUSINESS, 1)
        assert customer.agents == [f"wamid.agent{i}"]
        if m["type"] == "reaction":
            assert m["reaction"]["message_id"] == f"wamid.agent{i}"  # type: ignore[index]
        elif "context" in m:
            assert m["context"] == {"from": BUSINESS, "id": f"wamid.agent{i}"}
        kinds[_kind(m)] += 1
    assert set(kinds) == {"reaction", "reply", "text"}
