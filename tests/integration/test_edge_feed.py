"""The edge's feed on the real Kafka: what a node holds in memory when it starts following."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.support.kafka import expire_events
from tests.support.stack import Stack
from tidewire_edge.feed_kafka import KafkaEventFeed
from tidewire_edge.feed_rdkafka import RdKafkaEventFeed
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.contracts import Event
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.partitioning import company_key, partition_for
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.integration

# Every Kafka binding of the feed (TIDEWIRE_EDGE_KAFKA_CLIENT).
Binding = type[KafkaEventFeed] | type[RdKafkaEventFeed]
bindings = pytest.mark.parametrize("binding", [KafkaEventFeed, RdKafkaEventFeed])


def _event(company: str, n: int) -> Event:
    return Event(
        id=f"{company}-{n}",
        type="message.created",
        company_id=company,
        command_id=f"{company}-c{n}",
        occurred_at=n,
        accepted_at=n,
    )


async def _tail(s: StackSettings, tp: TopicPartition, start: int, end: int) -> list[bytes]:
    """Keys of the partition's records in [start, end), straight from Kafka."""
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        keys: list[bytes] = []
        while len(keys) < end - start:
            for rec in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if rec.offset < end:
                    keys.append(rec.key or b"")
        return keys
    finally:
        await consumer.stop()


@bindings
async def test_a_newly_followed_partition_starts_with_its_last_records_in_memory(
    stack: Stack, company: str, binding: Binding
) -> None:
    s = stack.settings
    partition = partition_for(company, s.partitions)
    producer = make_producer(s, "test-feed")
    await producer.start()
    try:
        for n in range(30):
            await append(producer, s, s.events_topic, company, _event(company, n).to_bytes())
    finally:
        await producer.stop()
    feed = binding(s, "test-epoch", recent_bytes=1024**2, backfill=10)
    await feed.start()
    try:
        await feed.follow(partition, EdgeSettings().connect_wait_s)
        end = feed.register(company, partition, _Nobody())
        assert feed.covers(partition, end - 10)
        assert not feed.covers(partition, end - 11)  # exactly `backfill` records back
        tp = TopicPartition(s.events_topic, partition)
        keys = await _tail(s, tp, end - 10, end)
        found = feed.recent(company, partition, end - 11, end)
        assert found is not None
        mine = [event for event, _ in found]
        assert len(mine) == keys.count(company_key(company)) > 0
        assert [e.id for e in mine] == [f"{company}-{n}" for n in range(30 - len(mine), 30)]
        assert all(e.cursor for e in mine)
    finally:
        await feed.stop()


@bindings
async def test_following_another_partition_does_not_wait_behind_the_held_fetch(
    stack: Stack, company: str, binding: Binding
) -> None:
    """With a fetch Kafka holds for a minute while nothing comes, following a second
    partition is done within the follow's limit (a connection carries one request at a
    time: on the reading consumer, the new partition's offsets waited behind that fetch);
    then both partitions' new events arrive, the new one's before the held fetch ends (on
    librdkafka's reading consumer, a partition added to the assignment was first fetched
    with the next fetch, after the held one)."""
    s = stack.settings
    first = partition_for(company, s.partitions)
    other = next(
        c
        for c in (f"{company}-{n}" for n in range(1000))
        if partition_for(c, s.partitions) != first
    )
    feed = binding(s, "test-epoch", recent_bytes=1024**2, backfill=10, fetch_wait_ms=60_000)
    await feed.start()
    producer = make_producer(s, "test-feed")
    await producer.start()
    try:
        await feed.follow(first, 20)
        mine, theirs = _Kept(), _Kept()
        feed.register(company, first, mine)
        # An event read: the feed fetches, and its next fetch is held.
        await append(producer, s, s.events_topic, company, _event(company, 1).to_bytes())
        await _wait_until(lambda: mine.ids == [f"{company}-1"])
        await feed.follow(partition_for(other, s.partitions), 20)
        feed.register(other, partition_for(other, s.partitions), theirs)
        # Nothing new on the first partition: that would end the held fetch.
        await append(producer, s, s.events_topic, other, _event(other, 1).to_bytes())
        await _wait_until(lambda: theirs.ids == [f"{other}-1"])
        await append(producer, s, s.events_topic, company, _event(company, 2).to_bytes())
        await _wait_until(lambda: mine.ids == [f"{company}-1", f"{company}-2"])
    finally:
        await producer.stop()
        await feed.stop()


@bindings
async def test_a_record_that_fails_to_hand_out_is_read_again_nothing_lost_nor_twice(
    stack: Stack, company: str, binding: Binding, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed's own code fails once on a record before handing it out (a bug of the
    feed, not of a receiver: those are isolated). That record and the ones read after it
    are read again: the receiver gets every event once, in order, and the recent memory
    holds them all. Before, librdkafka's binding went on with the next records: a hole in
    every socket's stream."""
    s = stack.settings
    partition = partition_for(company, s.partitions)
    feed = binding(s, "test-epoch", recent_bytes=1024**2, backfill=10)
    failed: list[int] = []
    take = feed._take

    def take_once_failing(p: int, offset: int, key: bytes, value: bytes) -> int:
        if key == company_key(company) and not failed:
            failed.append(offset)
            raise RuntimeError("a bug in the feed")
        return take(p, offset, key, value)

    monkeypatch.setattr(feed, "_take", take_once_failing)
    await feed.start()
    producer = make_producer(s, "test-feed")
    await producer.start()
    try:
        await feed.follow(partition, 20)
        kept = _Kept()
        start = feed.register(company, partition, kept)
        for n in range(5):
            await append(producer, s, s.events_topic, company, _event(company, n).to_bytes())
        expected = [f"{company}-{n}" for n in range(5)]
        await _wait_until(lambda: len(kept.ids) >= 5)
        await append(producer, s, s.events_topic, company, _event(company, 5).to_bytes())
        await _wait_until(lambda: len(kept.ids) >= 6)
        assert failed, "the feed never failed"
        assert kept.ids == [*expected, f"{company}-5"]
        found = feed.recent(company, partition, start - 1, feed._next[partition])
        assert found is not None
        assert [event.id for event, _ in found] == kept.ids
    finally:
        await producer.stop()
        await feed.stop()


async def _wait_until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


class _Kept:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def offer(self, event: Event, size: int | None = None) -> None:
        self.ids.append(event.id)


class _Nobody:
    def offer(self, event: Event, size: int | None = None) -> None:
        pass


async def test_the_librdkafka_feeds_bounds_are_the_partitions_as_of_the_question(
    stack: Stack, company: str
) -> None:
    """The bounds a recovering connect is checked against (retention, a cursor from the
    future) come from the broker at each question: a record appended or deleted just before
    is seen."""
    s = stack.settings
    partition = partition_for(company, s.partitions)
    tp = TopicPartition(s.events_topic, partition)
    producer = make_producer(s, "test-feed-bounds")
    await producer.start()
    feed = RdKafkaEventFeed(s, "test-epoch")
    await feed.start()
    try:
        await append(producer, s, s.events_topic, company, _event(company, 0).to_bytes())
        consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=None)
        await consumer.start()
        try:
            first = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
        finally:
            await consumer.stop()
        assert await feed.bounds([partition]) == {partition: (first, end)}
        await append(producer, s, s.events_topic, company, _event(company, 1).to_bytes())
        assert await feed.bounds([partition]) == {partition: (first, end + 1)}
        await expire_events(s, company)
        assert await feed.bounds([partition]) == {partition: (end + 1, end + 1)}
    finally:
        await feed.stop()
        await producer.stop()
