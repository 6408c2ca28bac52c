"""A batch the projector was interrupted in, projected again as after a crash: the journal
makes the second pass re-apply the same outcomes (nothing folded twice) and append only the
events the log lacks (nothing emitted twice, nothing lost)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.support.commands import inbound_command
from tests.support.faust_records import record_of
from tests.support.kafka import PartitionReader
from tests.support.stack import Stack
from tidewire_platform.cql import cached_rows, connect
from tidewire_platform.kafka_io import make_producer
from tidewire_platform.read_models_home import active_keyspace
from tidewire_projector.appends import Append, Topics
from tidewire_projector.events_tail import EventsTail
from tidewire_projector.pipeline import Pipeline
from tidewire_projector.store_cached import CachedStore
from tidewire_projector.store_cassandra import CassandraStore

pytestmark = pytest.mark.integration


def test_an_interrupted_batch_replays_its_outcomes_and_appends_only_missing_events(
    stack: Stack,
) -> None:
    run = uuid.uuid4().hex[:8]
    company = f"rp-{run}"
    commands = [inbound_command(company, n % 2, run, n) for n in range(12)]
    records = [record_of(c, 50_000 + n) for n, c in enumerate(commands)]

    async def scenario() -> None:
        session = connect(stack.settings, row_factory=cached_rows)
        producer = make_producer(stack.settings, "test-replay")
        await producer.start()
        tail = EventsTail(stack.settings)
        try:
            keyspace = await active_keyspace(session, stack.settings.cassandra_keyspace)
            topics = Topics.of(stack.settings)

            def fresh() -> Pipeline:  # a restarted process: nothing in memory
                return Pipeline(CachedStore(CassandraStore(session, keyspace)), topics, tail)

            async with PartitionReader(stack.settings, stack.settings.events_topic, company) as log:
                first = fresh()
                decided = await first.fold(records)
                assert decided.outcomes == ["applied"] * 12
                await first.write()  # journal and documents written ...
                sent = [a for a in decided.appends if isinstance(a, Append)]
                await asyncio.gather(*[await a.send(producer) for a in sent[:5]])
                # ... and the process dies with 7 events unsent, offsets uncommitted.

                replayed = await fresh().project(records, producer)
                assert replayed.outcomes == ["replayed"] * 12
                # And once more, with everything in the log already.
                await fresh().project(records, producer)

                events = [json.loads(r.value) for r in await log.settle()]
            assert sorted(e["id"] for e in events) == sorted(
                json.loads(a.value)["id"] for a in sent
            )
            tickets = {e["ticket_id"] for e in events}
            unread = [(await CassandraStore(session, keyspace).ticket(company, t)) for t in tickets]
            assert sorted(t.unread_messages for t in unread if t) == [6, 6]  # folded once
        finally:
            await producer.stop()
            await tail.close()
            session.cluster.shutdown()

    asyncio.run(scenario())
