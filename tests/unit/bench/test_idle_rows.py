"""The idle benchmark's table: processes largest first, per-second rates over the window
really measured, shares of the stack's total, and a total row."""

from __future__ import annotations

import pytest

from tidewire_bench.idle import rows

pytestmark = pytest.mark.unit


def test_rows_largest_first_with_rates_shares_and_the_total() -> None:
    table = rows({"edge-1": 0.3, "kafka": 1.2, "redis": 0.0}, seconds=30.0)
    assert table == [
        ["kafka", "1.20", "40.0", "80%"],
        ["edge-1", "0.30", "10.0", "20%"],
        ["redis", "0.00", "0.0", "0%"],
        ["stack", "1.50", "50.0", "100%"],
    ]


def test_rows_of_a_stack_that_used_nothing_have_no_shares() -> None:
    assert rows({"redis": 0.0}, seconds=10.0) == [
        ["redis", "0.00", "0.0", "–"],
        ["stack", "0.00", "0.0", "–"],
    ]
