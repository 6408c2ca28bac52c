import pytest

from tidewire_platform.contracts import Command, event_id_for
from tidewire_projector.fold import PoisonCommand, fold

pytestmark = pytest.mark.unit


def _send(**payload: object) -> Command:
    return Command(
        id="cmd-1",
        type="message.send",
        company_id="c",
        ticket_id="t",
        accepted_at=1000,
        payload=payload,
    )


def test_send_becomes_one_row_and_one_event_with_stable_id() -> None:
    out = fold(_send(body="hi", client_message_id="m1"), position=7)
    assert [r.position for r in out.rows] == [7]
    assert [e.id for e in out.events] == [event_id_for("cmd-1")]
    assert out.events[0].payload["message"]["clientMessageId"] == "m1"
    assert out.events[0].accepted_at == 1000


def test_fold_is_deterministic_apart_from_the_clock() -> None:
    a, b = fold(_send(body="hi"), 7), fold(_send(body="hi"), 7)
    assert a.rows == b.rows
    assert [e.id for e in a.events] == [e.id for e in b.events]


def test_send_without_body_is_poison() -> None:
    with pytest.raises(PoisonCommand, match="body"):
        fold(_send(), 1)
