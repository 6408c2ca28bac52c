"""The outbound process: the outbound topic in its own consumer group, one record at a time.

Apart from the projector so that a slow or hanging Graph API never holds up projection (the
projector's faust worker used to run this as a second agent in the same process and event
loop). A plain aiokafka consumer, because the commit point matters here: a record's offset is
committed only after its outcome is in the commands log and the sends ledger, so a process
killed mid-send gets the record again on restart, finds the ledger's claim still in flight
and marks the message unknown (sender.py) instead of sending it again.

When the group has no committed offset yet (its first start, also right after an upgrade from
the projector's agent), it reads the topic from its start; messages whose outcome the read
models hold are skipped without calling Graph.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from cassandra.cluster import Session

from tidewire_outbound.graph_api import GraphClient, tracing
from tidewire_outbound.ledger_cassandra import CassandraLedger, ledger_ttl_s
from tidewire_outbound.sender import Outbound, commands_appender
from tidewire_platform.cql import connect
from tidewire_platform.kafka_io import make_producer
from tidewire_platform.page_cursor import cursor_key
from tidewire_platform.probes import Address, start_probes
from tidewire_platform.read_models_cassandra import CassandraReadModels
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants_cassandra import CassandraTenantStore

log = logging.getLogger("tidewire.outbound")


class _State:
    """What /readyz reports (the process can send once its stores and consumer are open), and
    whether a record is being handled (a stop waits for it)."""

    def __init__(self) -> None:
        self.ready = False
        self.busy = False
        self.stopping = False

    def not_ready(self) -> str | None:
        return None if self.ready else "still opening Cassandra, Kafka and the outbound group"


def drain_s(settings: StackSettings) -> float:
    """How long a stop waits for the record in hand: its retries end by the deadline, plus
    one last call and the result's append. The chart's termination grace is longer."""
    return settings.graph_api_deadline_s + settings.graph_api_attempt_timeout_s + 10


async def run(settings: StackSettings, address: Address | None) -> None:
    """Serve the probes, open the stores, then send until SIGTERM or SIGINT (which also ends
    a start-up that waits, e.g. on a topic `migrate` has not created)."""
    state = _State()
    probes = await start_probes(address, state.not_ready) if address is not None else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        work = asyncio.create_task(_serve(settings, state))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not work.done():
            # A stop lets the record in hand finish (a deploy should not turn a send into an
            # unknown). Past the drain, or on SIGKILL, its claim stays in flight and its
            # offset uncommitted: the next owner marks it unknown and never re-sends it.
            state.stopping = True
            if state.busy:
                await asyncio.wait({work}, timeout=drain_s(settings))
            work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work  # its failure, if any, ends the process with its traceback
    finally:
        if probes is not None:
            await probes.cleanup()


async def _serve(settings: StackSettings, state: _State) -> None:
    session = await asyncio.to_thread(connect, settings)  # LWT: the driver's own row factory
    producer = make_producer(settings, "tidewire-outbound")
    consumer = AIOKafkaConsumer(
        settings.outbound_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.outbound_group,
        client_id="tidewire-outbound",
        enable_auto_commit=False,  # committed after each record's outcome is recorded
        auto_offset_reset="earliest",
        # A send may take the whole deadline; the group must not drop the member meanwhile.
        max_poll_interval_ms=int((settings.graph_api_deadline_s + 240) * 1000),
    )

    async def opened() -> Session:
        return session

    try:
        await producer.start()
        await consumer.start()
        async with aiohttp.ClientSession(trace_configs=[tracing()]) as http:
            outbound = Outbound(
                CassandraReadModels(
                    opened, settings.cassandra_keyspace, cursor_key(settings.jwt_secret)
                ),
                CassandraTenantStore(session, settings.cassandra_keyspace),
                GraphClient(settings.graph_api_base, http),
                CassandraLedger(
                    session,
                    settings.cassandra_keyspace,
                    ledger_ttl_s(settings.events_retention_ms),
                ),
                commands_appender(producer, settings),
                settings.graph_api_deadline_s,
                settings.graph_api_attempt_timeout_s,
            )
            state.ready = True
            await _consume(consumer, outbound, state)
    finally:
        state.ready = False
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        session.cluster.shutdown()


async def _consume(consumer: AIOKafkaConsumer, outbound: Outbound, state: _State) -> None:
    async for record in consumer:
        if state.stopping:
            return
        state.busy = True
        try:
            if record.value is not None:
                await outbound.handle(record.value)
            tp = TopicPartition(record.topic, record.partition)
            try:
                await consumer.commit({tp: record.offset + 1})
            except KafkaError as exc:
                # Rebalanced meanwhile, or Kafka away: the record comes again (to this process
                # or another), which finds its outcome in the ledger and skips it.
                log.warning("outbound: not committed: offset %d of %s: %s", record.offset, tp, exc)
        finally:
            state.busy = False
        if state.stopping:
            return
