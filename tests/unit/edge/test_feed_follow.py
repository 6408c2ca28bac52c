"""Following a partition Kafka does not let the node read ends with TimeoutError, which the
edge's connect turns into a refusal with a reason, and leaves the partition to a later
follow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition

from tidewire_edge.feed_kafka import KafkaEventFeed
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit


async def test_follow_gives_up_with_timeout_and_keeps_the_partition_pending() -> None:
    feed = KafkaEventFeed(StackSettings(), "E")  # never started: nothing adopts the partition
    with pytest.raises(TimeoutError):
        await feed.follow(3, timeout_s=0.05)
    assert 3 in feed._pending  # a later follow waits on the same adoption
    assert not feed._pending[3].done()


class AdoptingConsumer:
    """aiokafka's consumer as adoption uses it: empty partitions, a fetch the broker holds
    `timeout_ms` for lack of records (its connection's other requests wait behind it), and
    `seek` that fails the first `seek_fails` times (a failure inside an adoption)."""

    def __init__(self, made: list[AdoptingConsumer], seek_fails: int = 0) -> None:
        self.assigned: set[TopicPartition] = set()
        self.positions: dict[TopicPartition, int] = {}
        self.seek_fails = seek_fails
        self.stopped = False
        self.free = asyncio.Event()  # no fetch held on the connection
        self.free.set()
        made.append(self)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        await self.free.wait()
        return {tp: 0 for tp in tps}

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 0 for tp in tps}

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assigned = set(tps)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if self.seek_fails:
            self.seek_fails -= 1
            raise RuntimeError("a failure inside the adoption")
        self.positions[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        self.free.clear()
        try:
            await asyncio.sleep(timeout_ms / 1000)  # nothing comes: the broker holds the fetch
        finally:
            self.free.set()
        return {}

    def highwater(self, tp: TopicPartition) -> int | None:
        return None


def _tp(partition: int) -> TopicPartition:
    return TopicPartition(StackSettings().events_topic, partition)


async def _running(feed: KafkaEventFeed, consumer: AdoptingConsumer) -> None:
    """The feed's loop running on `consumer` (stopped by `feed.stop()`)."""
    feed._consumer = consumer  # type: ignore[assignment]
    feed._task = asyncio.create_task(feed._run())


async def test_a_failure_inside_an_adoption_is_retried_whole_and_releases_the_follower() -> None:
    """The adoption fails after the partition's start is known, with no partition to fill
    (an empty one): before, the feed had recorded the partition as followed, so it neither
    adopted it again nor released the follower (TimeoutError), and no consumer read it."""
    made: list[AdoptingConsumer] = []
    flaky = [AdoptingConsumer(made, seek_fails=1)]  # the first consumer an adoption gets
    feed = KafkaEventFeed(StackSettings(), "E")
    feed._new_consumer = lambda: flaky.pop() if flaky else AdoptingConsumer(made)  # type: ignore[method-assign]
    # (The code before adopted on the consumer it started with: it fails the same way.)
    await _running(feed, AdoptingConsumer(made, seek_fails=1))
    try:
        await feed.follow(4, timeout_s=5)
        reading = feed._consumer
    finally:
        await feed.stop()
    assert isinstance(reading, AdoptingConsumer)
    assert reading.assignment() == {_tp(4)}
    assert reading.positions == {_tp(4): 0}


async def test_following_a_new_partition_does_not_wait_out_the_fetch_held_for_the_others() -> None:
    """Partition 1 is followed, nothing comes, the fetch is held for a minute: following
    partition 2 wakes the loop and runs on a fresh consumer (the old one, with the held
    fetch on its connection, is closed), well within the follow's limit."""
    made: list[AdoptingConsumer] = []
    feed = KafkaEventFeed(StackSettings(), "E", fetch_wait_ms=60_000)
    feed._new_consumer = lambda: AdoptingConsumer(made)  # type: ignore[method-assign]
    await _running(feed, AdoptingConsumer(made))
    try:
        await feed.follow(1, timeout_s=5)
        first = feed._consumer
        await feed.follow(2, timeout_s=5)
        reading = feed._consumer
        assert isinstance(first, AdoptingConsumer)
        assert first.stopped  # with the fetch it held
    finally:
        await feed.stop()
    assert isinstance(reading, AdoptingConsumer)
    assert reading is not first
    assert reading.assignment() == {_tp(1), _tp(2)}
    assert all(c.stopped for c in made)  # the next adoption's standby too: no connection left
