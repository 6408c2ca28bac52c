"""How long the sends ledger keeps a row."""

from __future__ import annotations

import pytest

from tidewire_outbound.ledger_cassandra import ledger_ttl_s

pytestmark = pytest.mark.unit


def test_rows_outlive_the_records_that_could_ask_about_them() -> None:
    week_ms = 7 * 24 * 3600 * 1000
    assert ledger_ttl_s(week_ms) == 8 * 24 * 3600
