"""Tickets page cursors: only what ingest sealed for the same query opens."""

from __future__ import annotations

import pytest

from tidewire_platform.page_cursor import cursor_key, seal, unseal
from tidewire_platform.read_models import BadPageCursor

pytestmark = pytest.mark.unit

KEY = cursor_key("a-signing-secret-of-at-least-32-chars")
QUERY = ("acme", "open")


def test_a_sealed_state_opens_for_its_query() -> None:
    state = b"\x00\x10paging-state\xff"
    assert unseal(KEY, QUERY, seal(KEY, QUERY, state)) == state


@pytest.mark.parametrize(
    "cursor",
    ["AAAA", "AQID", "zz", "AAAA.AAAA", ".", "é.é", "A" * 5000 + ".AAAA", "%%%.%%%"],
)
def test_anything_else_is_refused_before_any_query(cursor: str) -> None:
    with pytest.raises(BadPageCursor):
        unseal(KEY, QUERY, cursor)


def test_a_cursor_of_another_query_key_or_tenant_is_refused() -> None:
    cursor = seal(KEY, QUERY, b"state")
    for key, query in [
        (KEY, ("acme", "closed")),
        (KEY, ("globex", "open")),
        (cursor_key("another-signing-secret-of-32-chars!!"), QUERY),
    ]:
        with pytest.raises(BadPageCursor):
            unseal(key, query, cursor)
    state, _, mac = cursor.partition(".")
    with pytest.raises(BadPageCursor):
        unseal(KEY, QUERY, f"{state}A.{mac}")
