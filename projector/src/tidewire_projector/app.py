"""The faust-streaming application: one consumer group over the commands topic.

Per command, in this order: read model, then event, then the "applied" mark. A crash between
any two steps replays the command (faust commits only finished offsets): the read model is
rewritten identically, and an event emitted before the crash is emitted again with the same
id, which consumers deduplicate. Reversing the order would let a client see an event whose
state the query API does not show yet.
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
from tidewire_platform.settings import StackSettings
from tidewire_projector.fold import PoisonCommand, fold
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


async def project(raw: bytes, position: int) -> str:
    store, producer = await _res.get()
    try:
        command = Command.from_bytes(raw)
        outcome = fold(command, position)
    except (PoisonCommand, ValueError) as exc:
        await producer.send_and_wait(
            settings.deadletter_topic,
            raw,
            headers=[("error", str(exc)[:500].encode())],
            partition=None,
        )
        return "deadletter"
    if await store.already_applied(command.company_id, command.id):
        return "duplicate"
    for row in outcome.rows:
        await store.write_message(row)
    for event in outcome.events:
        await append(producer, settings, settings.events_topic, event.company_id, event.to_bytes())
    await store.mark_applied(command.company_id, command.id, [e.id for e in outcome.events])
    return "applied"


@app.agent(commands_topic)
async def commands(stream: Any) -> None:
    async for event in stream.events():
        outcome = await project(event.value, event.message.offset)
        COMMANDS_PROJECTED.labels(outcome).inc()
