"""What Meta sends over a field's bound is cut to it and marked, never refused: refusing would
only make Meta retry the same facts for days. `raw` keeps what Meta sent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import whatsapp as wa
from tidewire_ingest.whatsapp import WebhookFact, parse_webhook
from tidewire_platform import limits

pytestmark = pytest.mark.unit


def _fact(message: dict[str, Any], name: str = "Ana") -> WebhookFact:
    (fact,) = parse_webhook(
        wa.webhook(messages=[message], contacts=[wa.contact(wa.CUSTOMER, name)])
    )
    return fact


def test_within_bounds_nothing_is_marked() -> None:
    fact = _fact(wa.text_message("x" * limits.TEXT_BODY_CHARS), "n" * limits.PROFILE_NAME_CHARS)
    assert "truncated" not in fact.payload
    assert len(fact.payload["body"]) == limits.TEXT_BODY_CHARS


def test_a_long_text_and_profile_name_are_cut_and_marked() -> None:
    text = "y" * 293_000
    fact = _fact(wa.text_message(text), "N" * 585_000)
    assert fact.payload["body"] == text[: limits.TEXT_BODY_CHARS]
    assert fact.payload["contact_name"] == "N" * limits.PROFILE_NAME_CHARS
    assert fact.payload["truncated"] == ["contact_name", "body"]
    assert fact.payload["raw"]["text"]["body"] == text  # what Meta sent stays whole


def test_a_caption_is_held_to_whatsapps_caption_limit() -> None:
    caption, name = "c" * 5000, "f" * 1000
    fact = _fact(wa.media_message("document", caption=caption, filename=name))
    assert fact.payload["body"] == caption[: limits.CAPTION_CHARS]
    assert fact.payload["media"]["filename"] == name[: limits.MEDIA_FILENAME_CHARS]
    assert fact.payload["truncated"] == ["body", "media.filename"]


def test_a_reaction_is_one_emoji_bounded_in_bytes() -> None:
    fact = _fact(wa.reaction_message("wamid.X", "\N{THUMBS UP SIGN}" * 1000))
    emoji = fact.payload["reaction"]["emoji"]
    assert len(emoji.encode()) <= limits.REACTION_EMOJI_BYTES
    assert emoji == "\N{THUMBS UP SIGN}" * (limits.REACTION_EMOJI_BYTES // 4)
    assert fact.payload["body"] == emoji
    assert fact.payload["truncated"] == ["reaction.emoji"]


def test_location_and_interactive_texts_are_cut() -> None:
    place = _fact(wa.location_message(name="n" * 5000, address="a" * 5000))
    assert len(place.payload["location"]["name"]) == limits.LOCATION_NAME_CHARS
    assert len(place.payload["location"]["address"]) == limits.LOCATION_ADDRESS_CHARS
    assert place.payload["truncated"] == ["location.name", "location.address"]
    reply = _fact(
        wa.interactive_reply(
            "list_reply", reply_id="i" * 900, title="t" * 900, description="d" * 900
        )
    )
    interactive = reply.payload["interactive"]
    assert len(interactive["id"]) == limits.INTERACTIVE_ID_CHARS
    assert interactive["title"] == reply.payload["body"] == "t" * limits.INTERACTIVE_TITLE_CHARS
    assert len(interactive["description"]) == limits.INTERACTIVE_DESCRIPTION_CHARS
    assert reply.payload["truncated"] == [
        "body",
        "interactive.id",
        "interactive.title",
        "interactive.description",
    ]


def test_shared_contacts_are_bounded_in_count_and_bytes() -> None:
    many = _fact(wa.contacts_message([wa.contact_card(f"Person {n}") for n in range(200)]))
    assert len(many.payload["shared_contacts"]) == limits.SHARED_CONTACTS_MAX
    assert many.payload["truncated"] == ["shared_contacts"]
    assert len(many.payload["raw"]["contacts"]) == 200
    big = _fact(wa.contacts_message([wa.contact_card("x" * 100_000)]))
    [card] = big.payload["shared_contacts"]
    assert len(str(card)) < limits.SHARED_CONTACTS_BYTES + 1000
    few = _fact(wa.contacts_message([wa.contact_card()]))
    assert few.payload["shared_contacts"] == [wa.contact_card()]
    assert "truncated" not in few.payload


def test_a_status_error_text_is_cut() -> None:
    failed = wa.status(
        "wamid.S", "failed", errors=[wa.failure(title="t" * 5000, details="d" * 5000)]
    )
    (fact,) = parse_webhook(wa.webhook(statuses=[failed]))
    [error] = fact.payload["errors"]
    assert len(error["title"]) == len(error["details"]) == limits.ERROR_CHARS
    assert fact.payload["truncated"] == ["errors.details", "errors.title"]
