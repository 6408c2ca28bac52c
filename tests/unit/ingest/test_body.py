"""What counts as a JSON body: RFC 8259, in UTF-8."""

from __future__ import annotations

import json

import pytest

from tidewire_ingest.body import parse_json
from tidewire_ingest.problems import Problem

pytestmark = pytest.mark.unit


def test_a_byte_order_mark_is_tolerated() -> None:
    assert parse_json(b'\xef\xbb\xbf{"a": 1.5}') == {"a": 1.5}


def test_json_parses_with_big_integers_kept_exact() -> None:
    assert parse_json(b'{"a": [1, 2.5, "\\u00e9"], "n": 123456789012345678901234567890}') == {
        "a": [1, 2.5, "é"],
        "n": 123456789012345678901234567890,
    }


@pytest.mark.parametrize(
    "raw",
    [
        b'{"latitude": NaN}',
        b'{"latitude": Infinity}',
        b'{"latitude": -Infinity}',
        b'{"latitude": 1e400}',
        json.dumps({"a": "b"}).encode("utf-16"),
        b'{"a": "\\xff"}'.replace(b"\\xff", b"\xff"),
        b"",
    ],
    ids=["nan", "infinity", "minus-infinity", "overflow", "utf-16", "not-utf-8", "empty"],
)
def test_what_json_does_not_allow_is_400(raw: bytes) -> None:
    with pytest.raises(Problem) as refused:
        parse_json(raw)
    assert refused.value.status == 400
    assert refused.value.title == "Malformed JSON"
