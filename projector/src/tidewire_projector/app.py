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
from tidewire_platform.cql import connect
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.metrics import COMMANDS_PROJECTED
from tidewire_platform.partitioning import partition_for
from tidewire_platform.settings import StackSettings
from tidewire_projector.domain import PoisonCommand, decide
from tidewire_projector.events_tail import EventsTail
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
)
commands_topic = app.topic(settings.commands_topic, value_serializer="raw", key_serializer="raw")


class _Resources:
    """Cassandra store and events producer, opened once the worker starts."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.store: CassandraStore | None = None
        self.producer: AIOKafkaProducer | None = None
        self.tail = EventsTail(settings)

    async def get(self) -> tuple[CassandraStore, AIOKafkaProducer]:
        await self.opened.wait()  # agents may start before the opening task finished
        assert self.store is not None
        assert self.producer is not None
        return self.store, self.producer


_res = _Resources()


@app.task
async def _open() -> None:
    _res.store = CassandraStore(connect(settings), settings.cassandra_keyspace)
    producer = make_producer(settings, "tidewire-projector")
    await producer.start()
    _res.producer = producer
    _res.opened.set()


async def project(raw: bytes, position: int, key: bytes | None = None) -> str:
    """Apply one command read at `position`; returns what happened (a metric label)."""
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
    if journaled is None:
        await store.record(command.id, position, outcome)
        await store.apply(outcome)
        for event in outcome.events:
            meta = await append(
                producer, settings, settings.events_topic, event.company_id, event.to_bytes()
            )
            _res.tail.appended(meta.partition, event.id)
        return "applied"
    # Replayed after a crash: same outcome again, each event appended only if it is missing.
    await store.apply(journaled.outcome)
    partition = partition_for(command.company_id, settings.partitions)
    for event in journaled.outcome.events:
        if not await _res.tail.contains(partition, journaled.recorded_at, event.id):
            await append(
                producer, settings, settings.events_topic, event.company_id, event.to_bytes()
            )
            _res.tail.appended(partition, event.id)
    return "replayed"


@app.agent(commands_topic)
async def commands(stream: Any) -> None:
    async for event in stream.events():
        outcome = await project(event.value, event.message.offset, event.key)
        COMMANDS_PROJECTED.labels(outcome).inc()
