"""The Kafka feed's reading loop survives one socket's bug and a failed iteration without
losing events: every other receiver still gets every event once, and the recent memory has
no hole and no duplicate. A fake consumer stands in for aiokafka's (no engine running)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from tidewire_edge.feed_kafka import KafkaEventFeed
from tidewire_edge.recent import RecentRecords
from tidewire_platform.contracts import Event
from tidewire_platform.partitioning import company_key
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit

_SETTINGS = StackSettings()


def _record(offset: int, company: str) -> SimpleNamespace:
    body = {
        "id": f"{company}-e{offset}",
        "type": "message.created",
        "company_id": company,
        "ticket_id": "t",
        "payload": {},
        "accepted_at": 1,
        "command_id": f"k{offset}",
        "occurred_at": 1,
    }
    return SimpleNamespace(offset=offset, key=company_key(company), value=json.dumps(body).encode())


class FakeConsumer:
    """aiokafka's consumer as the loop uses it: `getmany` returns what lies between each
    partition's position and its end (at most `batch` records) and moves past it."""

    def __init__(self, records: dict[int, list[SimpleNamespace]], batch: int = 1000) -> None:
        self.records = records
        self.batch = batch
        self.position = {p: 0 for p in records}
        self.highwater_fails = 0  # how many highwater calls raise (a failed iteration)

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(_SETTINGS.events_topic, partition)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        found = {}
        for p, records in self.records.items():
            taken = [r for r in records if r.offset >= self.position[p]][: self.batch]
            if taken:
                found[self._tp(p)] = taken
                self.position[p] = taken[-1].offset + 1
        if not found:
            await asyncio.sleep(timeout_ms / 1000)  # the broker holds an empty fetch
        return found

    def highwater(self, tp: TopicPartition) -> int | None:
        if self.highwater_fails:
            self.highwater_fails -= 1
            raise RuntimeError("a failed iteration")
        return None

    def assignment(self) -> set[TopicPartition]:
        return {self._tp(p) for p in self.records}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp.partition] = offset


class Good:
    def __init__(self) -> None:
        self.got: list[str] = []

    def offer(self, event: Event, size: int | None = None) -> None:
        self.got.append(event.id)


class Bad:
    def offer(self, event: Event, size: int | None = None) -> None:
        if event.id.endswith("-e0"):
            raise RuntimeError("one socket's bug")


def _feed(consumer: FakeConsumer) -> KafkaEventFeed:
    feed = KafkaEventFeed(_SETTINGS, "E")
    feed._consumer = consumer  # type: ignore[assignment]
    for p in consumer.records:
        feed._next[p] = 0
        feed._recent[p] = RecentRecords(1024**2)
    return feed


async def _until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _remembered(feed: KafkaEventFeed, company: str, partition: int) -> list[str]:
    found = feed.recent(company, partition, -1, feed._next[partition])
    assert found is not None
    return [event.id for event, _ in found]


async def test_a_receiver_that_raises_costs_no_other_receiver_an_event() -> None:
    """The reviewer's case: a batch e0, e1, e2 then e3; one receiver raises on e0. The
    healthy one got only e3, and memory lacked e1 and e2."""
    consumer = FakeConsumer({0: [_record(0, "c1"), _record(1, "c1"), _record(2, "c1")]})
    feed = _feed(consumer)
    good = Good()
    feed._receivers[company_key("c1")] = {Bad(), good}
    task = asyncio.create_task(feed._run())
    try:
        await _until(lambda: len(good.got) >= 3)
        consumer.records[0].append(_record(3, "c1"))
        await _until(lambda: len(good.got) >= 4)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert good.got == ["c1-e0", "c1-e1", "c1-e2", "c1-e3"]
    assert _remembered(feed, "c1", 0) == good.got


async def test_a_failed_iteration_reads_the_rest_of_its_batch_again_nothing_twice() -> None:
    """The loop fails after handing out partition 0's records and before partition 1's:
    the consumer had already moved past both. Partition 1's are read again; partition 0's
    are neither offered nor remembered twice."""
    consumer = FakeConsumer(
        {0: [_record(0, "c0"), _record(1, "c0")], 1: [_record(0, "c1"), _record(1, "c1")]}
    )
    consumer.highwater_fails = 1  # after the first partition of the first batch
    feed = _feed(consumer)
    zero, one = Good(), Good()
    feed._receivers[company_key("c0")] = {zero}
    feed._receivers[company_key("c1")] = {one}
    task = asyncio.create_task(feed._run())
    try:
        await _until(lambda: len(zero.got) >= 2 and len(one.got) >= 2)
        consumer.records[0].append(_record(2, "c0"))
        consumer.records[1].append(_record(2, "c1"))
        await _until(lambda: len(zero.got) >= 3 and len(one.got) >= 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert zero.got == ["c0-e0", "c0-e1", "c0-e2"]
    assert one.got == ["c1-e0", "c1-e1", "c1-e2"]
    assert _remembered(feed, "c0", 0) == zero.got
    assert _remembered(feed, "c1", 1) == one.got
