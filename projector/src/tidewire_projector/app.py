"""The faust-streaming application: one consumer group over the commands topic.

Per command, in this order: journal the outcome, write the read models, append the events.
A crash between any two steps replays the command (faust commits only finished offsets); the
journal makes the replay re-apply the same outcome and append only the events that are not in
the log yet (`events_tail`). Read models before events: a client that receives an event and
then queries the API sees the state that event describes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from tidewire_platform.contracts import Command
from tidewire_platform.cql import cached_rows, connect
from tidewire_platform.kafka_io import make_producer
from tidewire_platform.metrics import COMMANDS_PROJECTED
from tidewire_platform.partitioning import company_key, partition_for
from tidewire_platform.read_models_home import active_keyspace
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants_cassandra import CassandraTenantStore
from tidewire_projector.domain import PoisonCommand, decide
from tidewire_projector.events_tail import EventsTail
from tidewire_projector.outbound import send_agent_messages
from tidewire_projector.store_cached import CachedStore
from tidewire_projector.store_cassandra import CassandraStore

log = logging.getLogger("tidewire.projector")

settings = StackSettings()
app = faust.App(
    "tidewire-projector",
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    web_enabled=False,
    topic_partitions=settings.partitions,
    consumer_auto_offset_reset="earliest",
    datadir=str(settings.home / "projector"),  # faust's working files, not in the repo root
)
commands_topic = app.topic(settings.commands_topic, value_serializer="raw", key_serializer="raw")
events_topic = app.topic(settings.events_topic, value_serializer="raw", key_serializer="raw")


class _Resources:
    """Cassandra store and events producer, opened once the worker starts."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.store: CachedStore | None = None
        self.producer: AIOKafkaProducer | None = None
        self.tail = EventsTail(settings)
        self.tenants: CassandraTenantStore | None = None  # access tokens for outbound sends

    async def get(self) -> tuple[CachedStore, AIOKafkaProducer]:
        await self.opened.wait()  # agents may start before the opening task finished
        assert self.store is not None
        assert self.producer is not None
        return self.store, self.producer


_res = _Resources()


async def _forget(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
    """Partitions moved: another process may have written these companies, so forget what
    this one remembers of them."""
    if _res.store is not None:
        _res.store.clear()


app.on_partitions_revoked.connect(_forget)  # type: ignore[arg-type]  # faust stubs
app.on_partitions_assigned.connect(_forget)  # type: ignore[arg-type]


@app.task
async def _open() -> None:
    session = connect(settings, row_factory=cached_rows)  # no LWT here
    # Read models live where the last rebuild put them (see rebuild.py).
    keyspace = await active_keyspace(session, settings.cassandra_keyspace)
    _res.store = CachedStore(CassandraStore(session, keyspace))
    _res.tenants = CassandraTenantStore(session, settings.cassandra_keyspace)
    producer = make_producer(settings, "tidewire-projector")
    await producer.start()
    _res.producer = producer
    _res.opened.set()


async def project(
    raw: bytes, position: int, key: bytes | None, acks: list[asyncio.Future[Any]]
) -> str:
    """Apply one command read at `position`; returns what happened (a metric label).

    Event appends are only enqueued here (in order); their broker acknowledgements go to
    `acks`, which the caller awaits before the batch's offsets may be committed."""
    store, producer = await _res.get()
    try:
        command = Command.from_bytes(raw)
        journaled = await store.journaled(command.company_id, command.id)
        if journaled is None:
            outcome = await decide(command, position, store)
    except (PoisonCommand, ValueError) as exc:
        await producer.send_and_wait(
            settings.deadletter_topic,
            raw,
            key=key,  # same key, same partition number: a company's poison stays together
            headers=[("error", str(exc)[:500].encode())],
        )
        log.warning("dead-lettered command at offset %d: %s", position, exc)
        return "deadletter"
    if journaled is not None and journaled.position != position:
        return "duplicate"  # the same command accepted twice: applied the first time
    partition = partition_for(command.company_id, settings.partitions)
    if journaled is None:
        await store.commit(command.id, position, outcome)  # journal + read models
        for event in outcome.events:
            acks.append(await _enqueue(producer, event.company_id, event.to_bytes()))
            _res.tail.appended(partition, event.id)
        return "applied"
    # Replayed after a crash: same outcome again, each event appended only if it is missing.
    await store.apply(journaled.outcome)
    for event in journaled.outcome.events:
        if not await _res.tail.contains(partition, journaled.recorded_at, event.id):
            acks.append(await _enqueue(producer, event.company_id, event.to_bytes()))
            _res.tail.appended(partition, event.id)
    return "replayed"


async def _enqueue(producer: AIOKafkaProducer, company_id: str, value: bytes) -> Any:
    return await producer.send(
        settings.events_topic,
        value,
        key=company_key(company_id),
        partition=partition_for(company_id, settings.partitions),
    )


async def _project_in_order(events: list[Any]) -> None:
    """One company's commands of a batch, one after the other (its history is ordered)."""
    acks: list[asyncio.Future[Any]] = []
    for event in events:
        outcome = await project(event.value, event.message.offset, event.key, acks)
        COMMANDS_PROJECTED.labels(outcome).inc()
    await asyncio.gather(*acks)  # every event durable before the batch counts as done


@app.agent(commands_topic)
async def commands(stream: Any) -> None:
    """Commands in batches: companies are folded concurrently, each company in log order.
    faust commits a batch's offsets only after this loop asks for the next batch."""
    async for batch in stream.take_events(500, within=0.005):
        by_company: dict[bytes, list[Any]] = {}
        for event in batch:
            by_company.setdefault(event.key or b"", []).append(event)
        while True:
            # faust acks a batch's events even when this body raises, so a failure must never
            # escape: retry until Cassandra and Kafka take it (the journal makes retries safe).
            try:
                await asyncio.gather(*(_project_in_order(evs) for evs in by_company.values()))
                break
            except Exception:
                log.exception("projecting a batch failed; retrying it")
                await asyncio.sleep(1.0)


@app.agent(events_topic)
async def outbound(stream: Any) -> None:
    """Agents' messages to the WhatsApp Cloud API (outbound.py). A stream of its own: a slow
    Graph API pauses only the fetching of events, never command projection."""
    store, producer = await _res.get()
    assert _res.tenants is not None
    # Cassandra itself, not the projector's memory: this agent sees events of companies whose
    # commands another projector process may own.
    await send_agent_messages(stream, settings, store.inner, _res.tenants, producer)
