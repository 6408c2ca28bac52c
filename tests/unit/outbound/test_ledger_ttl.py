"""A replay appends an agent's outbound record again (a twin) as long as the command's
journaled outcome exists; the sender's only guard against sending the twin, once the replay
has rewritten the message's document as it was when created (no wamid yet), is the ledger
row. So the row must live at least as long as the journaled outcome."""

from __future__ import annotations

import pytest

from tidewire_outbound.ledger_cassandra import ledger_ttl_s
from tidewire_projector.journal_cassandra import outcome_ttl

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("retention_ms", [7 * 24 * 3600 * 1000, 3600 * 1000, -1])
def test_a_ledger_row_outlives_the_journaled_outcome_that_can_append_its_twin(
    retention_ms: int,
) -> None:
    journal_s, ledger_s = outcome_ttl(retention_ms), ledger_ttl_s(retention_ms)
    if journal_s == 0:  # the outcome never expires
        assert ledger_s == 0  # nor may the ledger row (0: no TTL)
    else:
        assert ledger_s == 0 or ledger_s > journal_s
