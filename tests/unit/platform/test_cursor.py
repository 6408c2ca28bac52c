import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire_platform.cursor import Cursor, CursorError

pytestmark = pytest.mark.unit

epochs = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
    min_size=1,
    max_size=64,
)


@given(epochs, st.integers(0, 99999), st.integers(0, 2**62))
def test_roundtrip(epoch: str, partition: int, offset: int) -> None:
    c = Cursor(epoch, partition, offset)
    assert Cursor.decode(c.encode()) == c


@pytest.mark.parametrize(
    "text",
    [
        "",
        "42",
        "tw1.",
        "tw1.!!!!",
        "tw2.bG9jYWw6MTE6MA",
        "tw1.bm90LWEtY3Vyc29y",
        "x" * 500,
        "tw1.\u00e9",  # not ASCII: base64 refuses it with a plain ValueError
        "tw1.ZXA6MTrZow",  # an Arabic-Indic digit
        "tw1.ZXA6MTo1Cg",  # a trailing newline
    ],
)
def test_foreign_strings_are_refused(text: str) -> None:
    with pytest.raises(CursorError, match="not a tidewire cursor"):
        Cursor.decode(text)


def test_cursors_order_by_offset_within_a_partition() -> None:
    assert Cursor("e", 3, 9) < Cursor("e", 3, 10)


def test_a_cursor_encoded_as_known_decodes_to_itself_even_past_the_memorys_reset() -> None:
    from tidewire_platform import cursor as module

    first = Cursor("E", 3, 7)
    text = first.encode_known()
    assert text == first.encode()
    assert Cursor.decode(text) is first  # a lookup, not a parse
    for offset in range(module._KNOWN_MAX + 1):  # fills the memory: it starts again
        Cursor("E", 4, offset).encode_known()
    assert text not in module._known
    assert Cursor.decode(text) == first  # parsed again, the same position
    with pytest.raises(CursorError):
        Cursor.decode(text[:-1] + "!")  # a known cursor's neighbour is no cursor
