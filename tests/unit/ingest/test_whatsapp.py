import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.whatsapp import (
    CUSTOMER,
    DISPLAY_PHONE_NUMBER,
    PHONE_NUMBER_ID,
    TIMESTAMP,
    button_message,
    change,
    contact,
    contact_card,
    contacts_message,
    conversation_info,
    entry,
    envelope,
    facts_in,
    failure,
    interactive_reply,
    json_values,
    location_message,
    media_message,
    mutated_webhooks,
    pricing_info,
    reaction_message,
    sign,
    status,
    text_message,
    unknown_message,
    valid_webhooks,
    webhook,
)
from tidewire_ingest.routes_webhooks import command_for
from tidewire_ingest.signature import signature_valid
from tidewire_ingest.whatsapp import (
    MAX_KEY_CHARS,
    MAX_RAW_DEPTH,
    WebhookFact,
    WebhookSchemaError,
    parse_webhook,
    phone_number_ids,
)
from tidewire_platform.contracts import Command

pytestmark = pytest.mark.unit

MS = TIMESTAMP * 1000


def _inbound(message: dict[str, Any], **payload: Any) -> WebhookFact:
    """The fact we expect for one message sent by CUSTOMER through `webhook()` defaults."""
    expected: dict[str, Any] = {
        "wamid": message["id"],
        "kind": message["type"],
        "body": None,
        "media": None,
        "location": None,
        "shared_contacts": None,
        "reaction": None,
        "interactive": None,
        "quoted_wamid": None,
        "contact_name": "Cliente 4321",
        "display_phone_number": DISPLAY_PHONE_NUMBER,
        "raw": message,
    }
    unknown = set(payload) - set(expected)
    assert not unknown, f"not payload fields: {unknown}"
    return WebhookFact(
        phone_number_id=PHONE_NUMBER_ID,
        type="message.inbound",
        source_id=message["id"],
        contact_wa_id=CUSTOMER,
        occurred_at=MS,
        payload={**expected, **payload},
    )


def _only(body: dict[str, Any]) -> WebhookFact:
    facts = parse_webhook(body)
    assert len(facts) == 1
    return facts[0]


def _loc_of(body: Any) -> str:
    with pytest.raises(WebhookSchemaError) as caught:
        parse_webhook(body)
    return caught.value.loc


# --- one test per message type ------------------------------------------------------------------


def test_text() -> None:
    m = text_message("Oi, tudo bem?", wamid="wamid.T1")
    assert _only(webhook(messages=[m])) == _inbound(m, body="Oi, tudo bem?")


def test_text_quoting_a_message_and_contact_name_from_contacts() -> None:
    m = text_message("isso", quoted="wamid.earlier")
    body = webhook(messages=[m], contacts=[contact("999", "Outra"), contact(CUSTOMER, "Ana")])
    assert _only(body) == _inbound(m, body="isso", quoted_wamid="wamid.earlier", contact_name="Ana")


def test_contact_name_is_none_without_contacts() -> None:
    m = text_message()
    assert _only(webhook(messages=[m], contacts=[])).payload["contact_name"] is None


def test_image_with_caption() -> None:
    m = media_message("image", media_id="img-1", caption="a foto")
    media = {"id": "img-1", "mime_type": "image/jpeg", "sha256": m["image"]["sha256"]}
    assert _only(webhook(messages=[m])) == _inbound(m, body="a foto", media=media)


def test_voice_audio() -> None:
    m = media_message("audio", media_id="aud-1", voice=True)
    media = {
        "id": "aud-1",
        "mime_type": "audio/ogg; codecs=opus",
        "sha256": m["audio"]["sha256"],
        "voice": True,
    }
    assert _only(webhook(messages=[m])) == _inbound(m, media=media)


def test_video() -> None:
    m = media_message("video", media_id="vid-1", caption="olha")
    media = {"id": "vid-1", "mime_type": "video/mp4", "sha256": m["video"]["sha256"]}
    assert _only(webhook(messages=[m])) == _inbound(m, body="olha", media=media)


def test_document_with_filename() -> None:
    m = media_message("document", media_id="doc-1", filename="boleto.pdf", caption="segue")
    media = {
        "id": "doc-1",
        "mime_type": "application/pdf",
        "sha256": m["document"]["sha256"],
        "filename": "boleto.pdf",
    }
    assert _only(webhook(messages=[m])) == _inbound(m, body="segue", media=media)


def test_animated_sticker() -> None:
    m = media_message("sticker", media_id="stk-1", animated=True)
    media = {
        "id": "stk-1",
        "mime_type": "image/webp",
        "sha256": m["sticker"]["sha256"],
        "animated": True,
    }
    assert _only(webhook(messages=[m])) == _inbound(m, media=media)


def test_media_without_optional_fields() -> None:
    m = media_message("image", media_id="img-2")
    del m["image"]["mime_type"], m["image"]["sha256"]
    media = {"id": "img-2", "mime_type": None, "sha256": None}
    assert _only(webhook(messages=[m])) == _inbound(m, media=media)


def test_location() -> None:
    m = location_message(-23.5, -46.6, name="Loja", address="Av. Paulista, 1000")
    location = {
        "latitude": -23.5,
        "longitude": -46.6,
        "name": "Loja",
        "address": "Av. Paulista, 1000",
    }
    assert _only(webhook(messages=[m])) == _inbound(m, location=location)


def test_location_pin_without_name() -> None:
    m = location_message(1, 2.5)
    assert _only(webhook(messages=[m])) == _inbound(m, location={"latitude": 1, "longitude": 2.5})


def test_shared_contacts() -> None:
    cards = [contact_card("Maria Souza"), contact_card("Pedro Lima", "+55 21 99999-0000")]
    m = contacts_message(cards)
    assert _only(webhook(messages=[m])) == _inbound(m, shared_contacts=cards)


def test_reaction() -> None:
    m = reaction_message("wamid.ours", "❤️")
    expected = _inbound(m, body="❤️", reaction={"message_id": "wamid.ours", "emoji": "❤️"})
    assert _only(webhook(messages=[m])) == expected


def test_removed_reaction_has_empty_emoji() -> None:
    m = reaction_message("wamid.ours", emoji=None)
    expected = _inbound(m, reaction={"message_id": "wamid.ours", "emoji": ""})
    assert _only(webhook(messages=[m])) == expected


def test_interactive_button_reply() -> None:
    m = interactive_reply("button_reply", reply_id="b1", title="Sim", quoted="wamid.q")
    interactive = {"kind": "button_reply", "id": "b1", "title": "Sim"}
    expected = _inbound(m, body="Sim", interactive=interactive, quoted_wamid="wamid.q")
    assert _only(webhook(messages=[m])) == expected


def test_interactive_list_reply() -> None:
    m = interactive_reply(
        "list_reply", reply_id="r2", title="Suporte", description="técnico", quoted=None
    )
    interactive = {"kind": "list_reply", "id": "r2", "title": "Suporte", "description": "técnico"}
    assert _only(webhook(messages=[m])) == _inbound(m, body="Suporte", interactive=interactive)


def test_interactive_of_another_kind_keeps_its_kind() -> None:
    m = unknown_message("interactive", {"type": "nfm_reply", "nfm_reply": {"name": "flow"}})
    interactive = {"kind": "nfm_reply", "id": None, "title": None}
    assert _only(webhook(messages=[m])) == _inbound(m, interactive=interactive)


def test_quick_reply_button() -> None:
    m = button_message("Confirmar", payload="YES", quoted="wamid.tpl")
    interactive = {"kind": "button", "id": "YES", "title": "Confirmar"}
    expected = _inbound(m, body="Confirmar", interactive=interactive, quoted_wamid="wamid.tpl")
    assert _only(webhook(messages=[m])) == expected


@pytest.mark.parametrize(
    "message",
    [
        unknown_message("unsupported"),
        unknown_message("order", {"catalog_id": "c1", "product_items": [{"quantity": 2}]}),
        unknown_message("system", {"body": "number changed", "type": "user_changed_number"}),
        unknown_message("hologram", {"depth": 3}),
        unknown_message("text"),  # a known type without its content object
    ],
    ids=["unsupported", "order", "system", "future", "text-without-content"],
)
def test_other_types_are_kept_with_raw(message: dict[str, Any]) -> None:
    assert _only(webhook(messages=[message])) == _inbound(message)


def _nested(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = [value]
    return value


def test_a_kept_object_nests_no_deeper_than_the_projector_reads() -> None:
    """Unknown content travels raw inside the command. What the limit lets through must
    decode again as the projector decodes it; one level more is refused with its path."""
    inside = unknown_message("hologram", {"layers": _nested(MAX_RAW_DEPTH - 2)})
    [fact] = parse_webhook(webhook(messages=[inside]))
    command = command_for("acme", fact)
    assert Command.from_bytes(command.to_bytes()) == command
    too_deep = unknown_message("hologram", {"layers": _nested(MAX_RAW_DEPTH - 1)})
    assert _loc_of(webhook(messages=[too_deep])) == "entry.0.changes.0.value.messages.0"
    status_too_deep = status("wamid.deep", "sent")
    status_too_deep["biz_opaque"] = _nested(MAX_RAW_DEPTH)
    assert _loc_of(webhook(statuses=[status_too_deep])) == "entry.0.changes.0.value.statuses.0"


def test_ids_used_as_keys_are_bounded() -> None:
    """Over the bound they would reach Cassandra keys (refused over 64 KiB, and the projector
    would retry that batch forever): refused here with the path instead."""
    ok = text_message("x", wamid="w" * MAX_KEY_CHARS)
    assert _only(webhook(messages=[ok])).source_id == "w" * MAX_KEY_CHARS
    long_wamid = text_message("x", wamid="w" * (MAX_KEY_CHARS + 1))
    assert _loc_of(webhook(messages=[long_wamid])) == "entry.0.changes.0.value.messages.0.id"
    long_sender = text_message("x")
    long_sender["from"] = "5" * 70_000
    assert _loc_of(webhook(messages=[long_sender])) == "entry.0.changes.0.value.messages.0.from"
    quoting = text_message("x")
    quoting["context"] = {"id": "q" * (MAX_KEY_CHARS + 1)}
    assert _loc_of(webhook(messages=[quoting])) == "entry.0.changes.0.value.messages.0.context.id"
    long_status = status("w" * (MAX_KEY_CHARS + 1), "read")
    assert _loc_of(webhook(statuses=[long_status])) == "entry.0.changes.0.value.statuses.0.id"


def test_integer_timestamp_is_accepted() -> None:
    m = text_message("x")
    m["timestamp"] = TIMESTAMP + 1
    assert _only(webhook(messages=[m])).occurred_at == MS + 1000


def test_display_phone_number_comes_from_metadata() -> None:
    m = text_message()
    fact = _only(webhook("777", messages=[m], display_phone_number="5511300000000"))
    assert (fact.phone_number_id, fact.payload["display_phone_number"]) == ("777", "5511300000000")


# --- one test per status state ------------------------------------------------------------------


def _status_fact(wamid: str, state: str, raw: dict[str, Any], **payload: Any) -> WebhookFact:
    expected: dict[str, Any] = {
        "wamid": wamid,
        "status": state,
        "ack": None,
        "errors": [],
        "conversation": None,
        "pricing": None,
        "raw": raw,
    }
    return WebhookFact(
        phone_number_id=PHONE_NUMBER_ID,
        type="message.status",
        source_id=f"{wamid}:{state}",
        contact_wa_id=CUSTOMER,
        occurred_at=MS,
        payload={**expected, **payload},
    )


def test_sent_carries_conversation_and_pricing() -> None:
    s = status("wamid.out", "sent")
    expected = _status_fact(
        "wamid.out", "sent", s, ack=1, conversation=conversation_info(), pricing=pricing_info()
    )
    assert _only(webhook(statuses=[s])) == expected


@pytest.mark.parametrize(("state", "ack"), [("delivered", 2), ("read", 3), ("played", 4)])
def test_delivery_states(state: str, ack: int) -> None:
    s = status("wamid.out", state)
    assert _only(webhook(statuses=[s])) == _status_fact("wamid.out", state, s, ack=ack)


def test_failed_carries_errors() -> None:
    s = status("wamid.out", "failed", errors=[failure(131026, "Undeliverable", message=None)])
    errors = [{"code": 131026, "title": "Undeliverable", "details": "Message Undeliverable."}]
    assert _only(webhook(statuses=[s])) == _status_fact(
        "wamid.out", "failed", s, ack=-1, errors=errors
    )


def test_failed_error_with_message_and_no_details() -> None:
    s = status("wamid.out", "failed", errors=[failure(470, "Re-engagement", details=None)])
    errors = [{"code": 470, "title": "Re-engagement", "message": "Message undeliverable"}]
    assert _only(webhook(statuses=[s])).payload["errors"] == errors


def test_unknown_state_is_kept_without_ack() -> None:
    s = status("wamid.out", "deleted")
    assert _only(webhook(statuses=[s])) == _status_fact("wamid.out", "deleted", s)


def test_duplicate_status_has_the_same_source_id() -> None:
    first = parse_webhook(webhook(statuses=[status("wamid.out", "read", timestamp=1)]))
    again = parse_webhook(webhook(statuses=[status("wamid.out", "read", timestamp=9)]))
    other = parse_webhook(webhook(statuses=[status("wamid.out", "delivered")]))
    assert first[0].source_id == again[0].source_id == "wamid.out:read"
    assert other[0].source_id != first[0].source_id


# --- batches and ignored parts ------------------------------------------------------------------


def test_batch_of_two_entries_with_two_changes_yields_every_fact_in_order() -> None:
    def messages_and_statuses(tag: str) -> dict[str, Any]:
        return change(
            f"phone-{tag}",
            messages=[text_message(wamid=f"in-{tag}-1"), text_message(wamid=f"in-{tag}-2")],
            statuses=[status(f"out-{tag}", "delivered"), status(f"out-{tag}", "read")],
        )

    body = envelope(
        entry(messages_and_statuses("a"), messages_and_statuses("b")),
        entry(messages_and_statuses("c"), messages_and_statuses("d")),
    )
    facts = parse_webhook(body)
    expected = [
        (f"phone-{tag}", kind, source)
        for tag in "abcd"
        for kind, source in [
            ("message.inbound", f"in-{tag}-1"),
            ("message.inbound", f"in-{tag}-2"),
            ("message.status", f"out-{tag}:delivered"),
            ("message.status", f"out-{tag}:read"),
        ]
    ]
    assert [(f.phone_number_id, f.type, f.source_id) for f in facts] == expected
    assert phone_number_ids(body) == {"phone-a", "phone-b", "phone-c", "phone-d"}


def test_other_fields_and_value_errors_give_no_facts() -> None:
    errors_only = change()
    errors_only["value"]["errors"] = [failure(130429, "Rate limit hit")]
    template = {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
    body = envelope(entry(errors_only, template))
    assert parse_webhook(body) == []
    assert phone_number_ids(body) == {PHONE_NUMBER_ID}


def test_payload_is_json_serialisable() -> None:
    body = webhook(
        messages=[media_message("document", filename="a.pdf")], statuses=[status("w", "sent")]
    )
    for fact in parse_webhook(body):
        assert json.loads(json.dumps(fact.payload)) == fact.payload


def test_sign_produces_the_header_meta_sends() -> None:
    raw = json.dumps(webhook(messages=[text_message()])).encode()
    header = sign(raw, "app-secret")
    assert header.startswith("sha256=")
    assert signature_valid(raw, header, "app-secret")
    assert not signature_valid(raw + b" ", header, "app-secret")


# --- schema violations --------------------------------------------------------------------------


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


def _one_message(message: dict[str, Any]) -> dict[str, Any]:
    return webhook(messages=[text_message(), message])


def _one_status(s: dict[str, Any]) -> dict[str, Any]:
    return webhook(statuses=[status("ok", "sent"), s])


_MSG = "entry.0.changes.0.value.messages.1"
_STATUS = "entry.0.changes.0.value.statuses.1"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ([], "body"),
        ("text", "body"),
        ({"entry": []}, "object"),
        ({"object": "page", "entry": []}, "object"),
        ({"object": "whatsapp_business_account"}, "entry"),
        ({"object": "whatsapp_business_account", "entry": {}}, "entry"),
        (envelope(["not an entry"]), "entry.0"),  # type: ignore[arg-type]
        (envelope({"id": "1"}), "entry.0.changes"),
        (envelope(entry([])), "entry.0.changes.0"),  # type: ignore[arg-type]
        (envelope(entry(_without(change(), "field"))), "entry.0.changes.0.field"),
        (envelope(entry(_without(change(), "value"))), "entry.0.changes.0.value"),
        (envelope(entry({"field": "messages", "value": {}})), "entry.0.changes.0.value.metadata"),
        (webhook(""), "entry.0.changes.0.value.metadata.phone_number_id"),
        (webhook(123), "entry.0.changes.0.value.metadata.phone_number_id"),  # type: ignore[arg-type]
        (webhook(messages=[[]]), "entry.0.changes.0.value.messages.0"),  # type: ignore[list-item]
        (_one_message(_without(text_message(), "id")), f"{_MSG}.id"),
        (_one_message(_without(text_message(), "from")), f"{_MSG}.from"),
        (_one_message(_without(text_message(), "timestamp")), f"{_MSG}.timestamp"),
        (_one_message(_without(text_message(), "type")), f"{_MSG}.type"),
        (_one_message({**text_message(), "type": 7}), f"{_MSG}.type"),
        (_one_message({**text_message(), "from": ["x"]}), f"{_MSG}.from"),
        (_one_message({**text_message(), "timestamp": "yesterday"}), f"{_MSG}.timestamp"),
        (_one_message({**text_message(), "timestamp": "1.5"}), f"{_MSG}.timestamp"),
        (_one_message({**text_message(), "timestamp": 1.5}), f"{_MSG}.timestamp"),
        (_one_message({**text_message(), "timestamp": True}), f"{_MSG}.timestamp"),
        (_one_message({**text_message(), "timestamp": "9" * 5000}), f"{_MSG}.timestamp"),
        (_one_message({**text_message(), "text": "hi"}), f"{_MSG}.text"),
        (_one_message({**text_message(), "text": {"body": 5}}), f"{_MSG}.text.body"),
        (_one_message({**text_message(), "context": []}), f"{_MSG}.context"),
        (_one_message({**media_message("image"), "image": {"mime_type": "x"}}), f"{_MSG}.image.id"),
        (
            _one_message({**location_message(), "location": {"latitude": 1}}),
            f"{_MSG}.location.longitude",
        ),
        (
            _one_message({**location_message(), "location": {"latitude": "1", "longitude": 2}}),
            f"{_MSG}.location.latitude",
        ),
        (
            _one_message({**reaction_message("w"), "reaction": {"emoji": "x"}}),
            f"{_MSG}.reaction.message_id",
        ),
        (
            _one_message({**interactive_reply(), "interactive": {"type": "list_reply"}}),
            f"{_MSG}.interactive.list_reply",
        ),
        (_one_message({**contacts_message(), "contacts": [1]}), f"{_MSG}.contacts.0"),
        (
            webhook(messages=[text_message()], contacts=[{"wa_id": CUSTOMER, "profile": []}]),
            "entry.0.changes.0.value.contacts.0.profile",
        ),
        (_one_status(_without(status("w", "read"), "id")), f"{_STATUS}.id"),
        (_one_status(_without(status("w", "read"), "status")), f"{_STATUS}.status"),
        (_one_status(_without(status("w", "read"), "timestamp")), f"{_STATUS}.timestamp"),
        (_one_status(_without(status("w", "read"), "recipient_id")), f"{_STATUS}.recipient_id"),
        (_one_status({**status("w", "read"), "status": 3}), f"{_STATUS}.status"),
        (_one_status({**status("w", "read"), "errors": {}}), f"{_STATUS}.errors"),
        (
            _one_status(status("w", "failed", errors=[{"code": "131026"}])),
            f"{_STATUS}.errors.0.code",
        ),
        (_one_status({**status("w", "sent"), "pricing": "free"}), f"{_STATUS}.pricing"),
    ],
)
def test_schema_violation_names_its_path(body: Any, loc: str) -> None:
    assert _loc_of(body) == loc


def test_schema_error_is_a_value_error_with_a_message() -> None:
    with pytest.raises(ValueError, match="non-empty string") as caught:
        parse_webhook(webhook(""))
    assert isinstance(caught.value, WebhookSchemaError)


def test_optional_nulls_are_absent() -> None:
    m = {**text_message("hi"), "context": None}
    body = webhook(messages=[m])
    body["entry"][0]["changes"][0]["value"]["contacts"] = None
    assert _only(body).payload["quoted_wamid"] is None


@pytest.mark.parametrize(
    "body",
    [None, [], "x", 3, {"entry": "x"}, {"entry": [None, {"changes": [1, {"value": []}]}]}],
)
def test_phone_number_ids_tolerates_anything(body: Any) -> None:
    assert phone_number_ids(body) == set()


# --- properties ---------------------------------------------------------------------------------

_PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(valid_webhooks())
def test_any_valid_webhook_yields_one_fact_per_message_and_status(body: dict[str, Any]) -> None:
    facts = parse_webhook(body)
    assert len(facts) == facts_in(body)
    assert {f.phone_number_id for f in facts} <= phone_number_ids(body)
    json.dumps([f.payload for f in facts])


@_PROPERTY
@given(mutated_webhooks())
def test_any_mutation_parses_or_raises_schema_error(body: Any) -> None:
    try:
        outcome: list[WebhookFact] | WebhookSchemaError = parse_webhook(body)
    except WebhookSchemaError as exc:
        outcome = exc
    if isinstance(outcome, WebhookSchemaError):
        assert outcome.loc
    else:
        assert {f.phone_number_id for f in outcome} <= phone_number_ids(body)


@_PROPERTY
@given(json_values)
def test_any_json_value_parses_or_raises_schema_error(body: Any) -> None:
    phone_number_ids(body)
    with pytest.raises(WebhookSchemaError):
        parse_webhook(body)


@given(st.sampled_from(["sent", "delivered", "read", "played", "failed", "deleted"]), st.text())
def test_status_source_id_depends_only_on_message_and_state(state: str, wamid_tail: str) -> None:
    wamid = "wamid." + wamid_tail
    a = parse_webhook(webhook(statuses=[status(wamid, state, timestamp=1)]))
    b = parse_webhook(webhook("other", statuses=[status(wamid, state, timestamp=2)]))
    assert a[0].source_id == b[0].source_id == f"{wamid}:{state}"
