"""The edge feed replacing its consumer to adopt a partition, on the real Kafka: shutdown and
readiness during the swap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.contracts.support import event
from tests.support.stack import Stack
from tidewire_edge.feed_kafka import KafkaEventFeed
from tidewire_edge.feed_rdkafka import RdKafkaEventFeed
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.partitioning import partition_for

pytestmark = pytest.mark.integration


async def _until(predicate: Callable[[], Any], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _two_partitions(company: str, partitions: int) -> tuple[int, int]:
    first = partition_for(company, partitions)
    return first, (first + 1) % partitions


async def test_stop_during_an_adoption_closing_the_old_consumer_ends_the_loop(
    stack: Stack, company: str
) -> None:
    """stop() while the loop closes the previous consumer: aiokafka's fetcher close awaits
    its fetch task under contextlib.suppress(CancelledError), which swallows the feed task's
    own cancel; the loop then runs on and stop() never returns."""
    s = stack.settings
    first, second = _two_partitions(company, s.partitions)
    feed = KafkaEventFeed(s, "E", recent_bytes=1024**2, backfill=10, fetch_wait_ms=2000)
    await feed.start()
    stopped = False
    try:
        await feed.follow(first, 20)
        old = feed._consumer
        assert old is not None
        real_close = old._fetcher.close
        in_stop = asyncio.Event()

        async def spy() -> None:
            in_stop.set()
            await real_close()  # first waits for its fetch task, under suppress(CancelledError)

        old._fetcher.close = spy
        following = asyncio.create_task(feed.follow(second, 20))
        await in_stop.wait()  # the loop is inside the old consumer's stop
        try:
            await asyncio.wait_for(feed.stop(), 10)
            stopped = True
        except TimeoutError:
            pass
        following.cancel()
        assert stopped, "feed.stop() hung: the loop swallowed its cancellation"
        assert feed._task is not None
        assert feed._task.done()
    finally:
        if not stopped and feed._task is not None:
            feed._task.cancel()  # a second cancel lands outside aiokafka's close
            await asyncio.gather(feed._task, return_exceptions=True)
            await feed.stop()


async def test_readiness_holds_while_an_adoption_replaces_the_consumer(
    stack: Stack, company: str
) -> None:
    """A readiness probe whose metadata request waits behind the held fetch on the reading
    consumer's connection fails when an adoption closes that consumer meanwhile: /readyz
    answers 503 though Kafka is fine."""
    s = stack.settings
    first, second = _two_partitions(company, s.partitions)
    feed = KafkaEventFeed(s, "E", recent_bytes=1024**2, backfill=10, fetch_wait_ms=2000)
    await feed.start()
    try:
        await feed.follow(first, 20)
        old = feed._consumer
        assert old is not None
        # The fetcher's held fetch is on the wire.
        await _until(lambda: old._fetcher._pending_tasks)
        conns = old._client._conns
        probing = asyncio.create_task(feed.reachable())
        # The probe's metadata request is queued on the same connection, behind the fetch.
        await _until(lambda: any(len(c._requests) >= 2 for c in conns.values()))
        await feed.follow(second, 20)
        assert await probing, "the readiness probe failed during an adoption"
    finally:
        await feed.stop()


async def test_librdkafka_readiness_holds_and_stop_returns_while_partitions_are_adopted(
    stack: Stack, company: str
) -> None:
    """The librdkafka feed with a fetch Kafka holds for a minute, following partitions
    with records to backfill: the second adoption's offsets do not wait behind a fetch the
    first one's backfill left held; readiness probes asked while a partition is adopted
    answer; and stop() during an adoption returns, closing both handles."""
    s = stack.settings
    first, second = _two_partitions(company, s.partitions)
    third = (second + 1) % s.partitions
    producer = make_producer(s, "test-feed")
    await producer.start()
    try:
        for partition in (first, second):
            tenant = next(
                c
                for c in (f"{company}-{n}" for n in range(1000))
                if partition_for(c, s.partitions) == partition
            )
            for n in range(3):
                await append(producer, s, s.events_topic, tenant, event(tenant, n).to_bytes())
    finally:
        await producer.stop()
    feed = RdKafkaEventFeed(s, "E", recent_bytes=1024**2, backfill=10, fetch_wait_ms=60_000)
    await feed.start()
    adopting: asyncio.Task[None] | None = None
    try:
        await feed.follow(first, 20)
        probing = [asyncio.create_task(feed.reachable()) for _ in range(3)]
        await feed.follow(second, 20)
        assert all(await asyncio.gather(*probing)), "a readiness probe failed during an adoption"
        adopting = asyncio.create_task(feed.follow(third, 20))
    finally:
        await asyncio.wait_for(feed.stop(), 20)
    assert feed._consumer is None
    assert feed._probe is None
    if adopting is not None:
        adopting.cancel()
        await asyncio.gather(adopting, return_exceptions=True)
