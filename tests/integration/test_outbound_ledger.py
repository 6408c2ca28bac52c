"""The outbound sender's ledger against the real Cassandra: one claim per message, whatever
races it, and rows that expire."""

from __future__ import annotations

import asyncio
import time
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


def test_a_finish_from_a_clock_behind_cassandras_still_reads_as_finished(stack: Stack) -> None:
    """`finish` is a plain write with the client's timestamp; the claim's cells carry its
    Paxos ballot's (Cassandra's clock). With the sender's clock an hour behind, the finish's
    `state` loses to the claim's `in_flight`, yet a later delivery must see the send as
    over (a twin skipped), not in flight (which would record it unknown after its outcome)."""

    async def scenario() -> None:
        session = connect(stack.settings)
        hour_us = 3600 * 1_000_000
        session.cluster.timestamp_generator = lambda: int(time.time() * 1e6) - hour_us
        try:
            keyspace = stack.settings.cassandra_keyspace
            ledger = CassandraLedger(session, keyspace, 3600)
            company, message = f"co-{uuid.uuid4().hex[:12]}", f"m-{uuid.uuid4().hex[:12]}"
            assert await ledger.claim(company, message) is None
            await ledger.finish(company, message, "sent", "wamid.Y", None)
            state = session.execute(
                f"SELECT state FROM {keyspace}.outbound_sends "
                "WHERE company_id = %s AND message_id = %s",
                (company, message),
            ).one()
            assert state.state == "in_flight"  # the skew did shadow the finish's state
            again = await ledger.claim(company, message)
            assert again == Claimed("finished", "wamid.Y", None)
            assert again.finished
        finally:
            session.cluster.shutdown()

    asyncio.run(scenario())
