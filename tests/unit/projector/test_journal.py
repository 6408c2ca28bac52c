"""Journaled outcomes expire with the events' retention, within what Cassandra accepts."""

from __future__ import annotations

import pytest

from tidewire_projector.journal_cassandra import outcome_ttl

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("retention_ms", "ttl_s"),
    [
        (7 * 24 * 3600 * 1000, 7 * 24 * 3600),
        (-1, 0),  # Kafka's "keep for ever": never expire (Cassandra refuses TTL -1)
        (0, 0),
        (500, 1),  # under a second: the shortest TTL, not "never"
        (100 * 365 * 24 * 3600 * 1000, 630_720_000),  # capped at Cassandra's 20 years
    ],
)
def test_ttl_follows_retention_within_cassandras_range(retention_ms: int, ttl_s: int) -> None:
    assert outcome_ttl(retention_ms) == ttl_s
