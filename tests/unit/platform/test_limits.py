"""The field bounds and the helpers that cut to them."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire_platform import limits
from tidewire_platform.contracts import ID_PATTERN, USER_ID_PATTERN

pytestmark = pytest.mark.unit

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(), inner, max_size=6),
    max_leaves=40,
)


def test_whatsapp_documented_bounds() -> None:
    assert limits.TEXT_BODY_CHARS == 4096
    assert limits.CAPTION_CHARS == 1024
    assert limits.INTERACTIVE_DESCRIPTION_CHARS == 72


def test_ids_of_the_contracts_follow_the_bounds() -> None:
    assert re.fullmatch(ID_PATTERN, "a" * limits.ID_CHARS)
    assert not re.fullmatch(ID_PATTERN, "a" * (limits.ID_CHARS + 1))
    assert re.fullmatch(USER_ID_PATTERN, "u" * limits.USER_ID_CHARS)
    assert not re.fullmatch(USER_ID_PATTERN, "u" * (limits.USER_ID_CHARS + 1))


def test_clip_says_whether_it_cut() -> None:
    assert limits.clip("abc", 3) == ("abc", False)
    assert limits.clip("abcd", 3) == ("abc", True)


def test_clip_bytes_cuts_at_a_character_boundary() -> None:
    family = "\N{MAN}\N{ZERO WIDTH JOINER}\N{WOMAN}\N{ZERO WIDTH JOINER}\N{GIRL}"  # 18 bytes
    assert limits.clip_bytes(family, limits.REACTION_EMOJI_BYTES) == (family, False)
    cut, was_cut = limits.clip_bytes("\N{THUMBS UP SIGN}" * 20, 10)  # 4 bytes each
    assert (cut, was_cut) == ("\N{THUMBS UP SIGN}" * 2, True)
    assert limits.clip_bytes("abc", 3) == ("abc", False)


def test_clip_json_keeps_what_fits_whole() -> None:
    card = {"name": {"formatted_name": "Maria"}, "phones": [{"phone": "+55 11", "type": "CELL"}]}
    assert limits.clip_json([card], 1000, 10) == ([card], False)


def test_clip_json_cuts_long_strings_many_items_and_deep_nesting() -> None:
    cut, was_cut = limits.clip_json({"a": "x" * 1000}, 100, 10)
    assert was_cut
    assert len(json.dumps(cut)) <= 120
    assert limits.clip_json(list(range(50)), 10_000, 5) == ([0, 1, 2, 3, 4], True)
    assert limits.clip_json([[["deep"]]], 10_000, 5, max_depth=2) == ([[None]], True)


@given(_json, st.integers(min_value=0, max_value=300))
def test_clip_json_stays_near_its_budget_and_is_stable(value: object, budget: int) -> None:
    cut, _ = limits.clip_json(value, budget, 8)
    # Strings, numbers and keys are counted; brackets, commas and colons are not.
    text = json.dumps(cut, ensure_ascii=False, separators=(",", ":"))
    structure = sum(text.count(c) for c in "[]{},:")
    assert len(text.encode()) - structure <= budget + 32
    assert limits.clip_json(cut, budget, 8) == (cut, False)  # cutting twice changes nothing


def test_clip_json_never_keeps_a_number_past_its_budget() -> None:
    assert limits.clip_json({"a": 10**40, "b": 1}, 20, 8) == ({"a": None, "b": 1}, True)
    assert limits.clip_json([10**5000], 100, 8) == ([None], True)
