"""`tidewire infra` on an instance of its own: idempotent up, and data survives down/up.

Runs last (chaos): it restarts engines, so it owns a separate state folder and ports and never
touches the shared stack other tests use.
"""

import asyncio

import pytest
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from tidewire_deploy import infra
from tidewire_deploy.engines import port_open
from tidewire_platform.contracts import Event
from tidewire_platform.cql import connect
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.chaos


async def _write_event(s: StackSettings) -> tuple[int, int, bytes]:
    producer = make_producer(s, "durability-test")
    await producer.start()
    try:
        event = Event(
            id="e-1",
            type="message.created",
            company_id="acme",
            command_id="c-1",
            occurred_at=1,
            accepted_at=1,
            payload={"body": "before restart"},
        )
        meta = await append(producer, s, s.events_topic, "acme", event.to_bytes())
        return meta.partition, meta.offset, event.to_bytes()
    finally:
        await producer.stop()


async def _read_at(s: StackSettings, partition: int, offset: int) -> bytes | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(s.events_topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batch = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
        records = batch.get(tp, [])
        return records[0].value if records else None
    finally:
        await consumer.stop()


def test_up_twice_down_up_keeps_everything(own: StackSettings) -> None:
    infra.up(own)
    pids = {r.name: r.pid for r in infra.status(own)}
    assert all(r.state == "running" for r in infra.status(own))
    infra.up(own)  # second up: reuses, never twins
    assert {r.name: r.pid for r in infra.status(own)} == pids

    partition, offset, written = asyncio.run(_write_event(own))
    redis.Redis(port=own.redis_port).set("tidewire:durability", "kept")
    session = connect(own, own.cassandra_keyspace)
    session.execute(
        "INSERT INTO command_journal_by_id (company_id, command_id, position, outcome) "
        "VALUES ('acme', 'c-1', 7, 'kept')"
    )
    session.cluster.shutdown()

    infra.down(own)
    assert all(r.state == "stopped" for r in infra.status(own))
    assert not port_open("127.0.0.1", own.kafka_port)

    infra.up(own)
    assert asyncio.run(_read_at(own, partition, offset)) == written
    assert redis.Redis(port=own.redis_port).get("tidewire:durability") == b"kept"
    session = connect(own, own.cassandra_keyspace)
    try:
        row = session.execute(
            "SELECT outcome FROM command_journal_by_id WHERE command_id='c-1'"
        ).one()
    finally:
        session.cluster.shutdown()
    assert row is not None
    assert row.outcome == "kept"
