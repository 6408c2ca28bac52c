"""Agent command bodies: what a misspelt field or a Whaticket front end's body becomes."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from tidewire_ingest.app import create_app
from tidewire_ingest.deps import read_models
from tidewire_ingest.routes_commands import SendMessage, UpdateTicket, WhaticketTicketUpdate
from tidewire_platform import limits
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.unit


def _refused_field(model: type, body: dict[str, object]) -> tuple[object, ...]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)  # type: ignore[attr-defined]
    [error] = refused.value.errors()
    return tuple(error["loc"])


def test_a_misspelt_field_is_refused_by_name_not_dropped() -> None:
    assert _refused_field(UpdateTicket, {"status": "closed", "asignee": "u1"}) == ("asignee",)
    assert _refused_field(SendMessage, {"client_message_id": "m1", "body": "b", "bdy": "x"}) == (
        "bdy",
    )


def test_ids_follow_the_id_rule() -> None:
    assert _refused_field(UpdateTicket, {"user_id": ""}) == ("user_id",)
    assert _refused_field(UpdateTicket, {"queue_id": "q" * 65}) == ("queue_id",)


def test_whaticket_names_and_extras_are_understood_on_its_route() -> None:
    body = {"status": "open", "userId": 7, "queueId": None, "useIntegration": False}
    change = WhaticketTicketUpdate.model_validate(body)
    assert change.model_dump(include=change.model_fields_set) == {
        "status": "open",
        "user_id": "7",
        "queue_id": None,
    }
    # Our own route takes the camelCase names, but not the fields only Whaticket sends.
    assert UpdateTicket.model_validate({"userId": "7"}).user_id == "7"
    assert _refused_field(UpdateTicket, body) == ("useIntegration",)


def test_a_text_over_whatsapps_limit_is_refused_by_name() -> None:
    body = {"client_message_id": "m1", "body": "x" * (limits.TEXT_BODY_CHARS + 1)}
    assert _refused_field(SendMessage, body) == ("body",)
    SendMessage.model_validate({**body, "body": "x" * limits.TEXT_BODY_CHARS})


async def test_the_refusal_is_a_problem_document_naming_field_and_bound() -> None:
    app = create_app()
    # No engines in a unit test: the read models a route depends on are never reached, since
    # the body is refused first; a stand-in keeps FastAPI from opening Cassandra for them.
    app.dependency_overrides[read_models] = lambda: object()
    token = issue_token(StackSettings(), "acme", "u1")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        resp = await http.post(
            "/api/tickets/t1/messages",
            json={"client_message_id": "m1", "body": "x" * (limits.TEXT_BODY_CHARS + 1)},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    detail = resp.json()["detail"]
    assert detail.startswith("body.body:")
    assert f"{limits.TEXT_BODY_CHARS} characters" in detail
