"""The outbound sender's ledger against the real Cassandra: one claim per message, whatever
races it, and rows that expire."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.stack import Stack
from tidewire_outbound.ledger_cassandra import CassandraLedger, Claimed
from tidewire_platform.cql import connect

pytestmark = pytest.mark.integration


def test_one_claim_wins_and_the_outcome_is_what_later_claims_see(stack: Stack) -> None:
    async def scenario() -> None:
        session = connect(stack.settings)
        try:
            keyspace = stack.settings.cassandra_keyspace
            ledger = CassandraLedger(session, keyspace, 3600)
            company, message = f"co-{uuid.uuid4().hex[:12]}", f"m-{uuid.uuid4().hex[:12]}"
            # Five deliveries of the same message at once: exactly one may call Graph.
            claims = await asyncio.gather(*(ledger.claim(company, message) for _ in range(5)))
            assert claims.count(None) == 1
            assert [c for c in claims if c is not None] == [Claimed("in_flight", None, None)] * 4
            await ledger.finish(company, message, "sent", "wamid.X", None)
            assert await ledger.claim(company, message) == Claimed("sent", "wamid.X", None)
            row = session.execute(
                f"SELECT TTL(state) AS left FROM {keyspace}.outbound_sends "
                "WHERE company_id = %s AND message_id = %s",
                (company, message),
            ).one()
            assert 0 < row.left <= 3600
        finally:
            session.cluster.shutdown()

    asyncio.run(scenario())
