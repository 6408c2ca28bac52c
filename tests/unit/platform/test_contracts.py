import pytest
from pydantic import ValidationError

from tidewire_platform.contracts import Command, Event, event_id_for, stable_id

pytestmark = pytest.mark.unit


def test_stable_ids_are_deterministic_and_distinct() -> None:
    assert stable_id("a", "b") == stable_id("a", "b")
    assert stable_id("a", "b") != stable_id("ab", "")
    assert event_id_for("cmd") != event_id_for("cmd", 1)


def test_command_roundtrip() -> None:
    c = Command(id="x1", type="message.send", company_id="c", ticket_id="t", payload={"b": 1})
    assert Command.from_bytes(c.to_bytes()) == c


def test_unknown_command_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="type"):
        Command(id="x1", type="nope", company_id="c")  # type: ignore[arg-type]


def test_event_cursor_is_not_stored_in_the_log() -> None:
    e = Event(
        id="e",
        type="message.created",
        company_id="c",
        command_id="x",
        occurred_at=1,
        accepted_at=1,
        cursor="tw1.abc",
    )
    assert b"tw1.abc" not in e.to_bytes()
    assert Event.from_bytes(e.to_bytes(), "tw1.def").cursor == "tw1.def"
