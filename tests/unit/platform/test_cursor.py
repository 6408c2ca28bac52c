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
