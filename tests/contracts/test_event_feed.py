"""The EventFeed contract (`tidewire_edge.feed`), run against every binding.

A binding's class gives a started feed, the partition count, and `append`: a record of a
company as the projector appends it to the events log. Offers are awaited by polling with a
deadline (the Kafka feed hands them out from its reading loop).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka import AIOKafkaProducer

from tests.contracts.support import event, fresh, neighbour
from tests.support.stack import Stack
from tidewire_edge.feed import EventFeed
from tidewire_edge.feed_kafka import KafkaEventFeed
from tidewire_edge.feed_memory import MemoryEventFeed
from tidewire_edge.feed_rdkafka import RdKafkaEventFeed
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log_memory import MemoryEventsLog
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.partitioning import partition_for


class _Receiver:
    def __init__(self) -> None:
        self.offered: list[Event] = []

    def offer(self, event: Event, size: int | None = None) -> None:
        assert size is None or size > 0
        self.offered.append(event)

    def ids(self) -> list[str]:
        return [e.id for e in self.offered]


def _raising(event: Event, size: int | None = None) -> None:
    raise RuntimeError("one receiver's bug")


async def _until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _offset(event: Event) -> int:
    return Cursor.decode(event.cursor or "").offset


class EventFeedContract(ABC):
    partitions: int

    @pytest.fixture
    @abstractmethod
    async def feed(self) -> EventFeed | AsyncIterator[EventFeed]: ...

    @abstractmethod
    async def append(self, company_id: str, value: bytes) -> int: ...

    async def _registered(self, feed: EventFeed, company_id: str) -> tuple[_Receiver, int]:
        partition = partition_for(company_id, self.partitions)
        await feed.follow(partition, 15)
        receiver = _Receiver()
        return receiver, feed.register(company_id, partition, receiver)

    async def test_live_events_of_the_company_in_order_from_the_registered_offset(
        self, feed: EventFeed
    ) -> None:
        acme = fresh("acme")
        other = neighbour(acme, self.partitions)
        receiver, start = await self._registered(feed, acme)
        offsets = []
        for n, company in enumerate([acme, other, acme, acme]):
            offsets.append(await self.append(company, event(company, n).to_bytes()))
        await _until(lambda: len(receiver.offered) >= 3, "three events")
        assert receiver.ids() == [f"{acme}-e0", f"{acme}-e2", f"{acme}-e3"]
        assert [_offset(e) for e in receiver.offered] == [offsets[0], offsets[2], offsets[3]]
        assert offsets[0] >= start

    async def test_an_unregistered_receiver_is_offered_nothing_more(self, feed: EventFeed) -> None:
        acme = fresh("acme")
        leaving, _ = await self._registered(feed, acme)
        staying, _ = await self._registered(feed, acme)
        await self.append(acme, event(acme, 0).to_bytes())
        await _until(lambda: len(leaving.offered) == 1, "the first event")
        feed.unregister(acme, leaving)
        await self.append(acme, event(acme, 1).to_bytes())
        await _until(lambda: len(staying.offered) == 2, "the second event")
        assert leaving.ids() == [f"{acme}-e0"]

    async def test_a_receiver_that_raises_costs_the_others_nothing(self, feed: EventFeed) -> None:
        """One socket's bug: it misses the event, the company's other receivers and memory
        get every event, in order."""
        acme = fresh("acme")
        broken, start = await self._registered(feed, acme)
        broken.offer = _raising  # type: ignore[method-assign]
        receiver, _ = await self._registered(feed, acme)
        last = 0
        for n in range(3):
            last = await self.append(acme, event(acme, n).to_bytes())
        await _until(lambda: len(receiver.offered) >= 3, "three events")
        assert receiver.ids() == [f"{acme}-e{n}" for n in range(3)]
        recent = feed.recent(acme, partition_for(acme, self.partitions), start - 1, last + 1)
        assert recent is not None
        assert [e.id for e, _ in recent] == receiver.ids()

    async def test_recent_serves_what_was_read_and_skips_what_is_not_an_event(
        self, feed: EventFeed
    ) -> None:
        acme = fresh("acme")
        other = neighbour(acme, self.partitions)
        receiver, start = await self._registered(feed, acme)
        await self.append(acme, event(acme, 0).to_bytes())
        await self.append(acme, b"not an event")
        await self.append(other, event(other, 2).to_bytes())
        last = await self.append(acme, event(acme, 3).to_bytes())
        await _until(lambda: len(receiver.offered) == 2, "both events")
        assert receiver.ids() == [f"{acme}-e0", f"{acme}-e3"]
        recent = feed.recent(acme, partition_for(acme, self.partitions), start - 1, last + 1)
        assert recent is not None
        assert [(e.id, size > 0) for e, size in recent] == [
            (f"{acme}-e0", True),
            (f"{acme}-e3", True),
        ]


@pytest.mark.unit
class TestMemoryEventFeed(EventFeedContract):
    partitions = 3

    @pytest.fixture
    async def feed(self) -> EventFeed:
        self._log = MemoryEventsLog(self.partitions, epoch="E")
        return MemoryEventFeed(self._log)

    async def append(self, company_id: str, value: bytes) -> int:
        return self._log.append(company_id, value)


@pytest.mark.integration
class TestKafkaEventFeed(EventFeedContract):
    binding: type[KafkaEventFeed | RdKafkaEventFeed] = KafkaEventFeed

    @pytest.fixture
    async def feed(self, stack: Stack) -> AsyncIterator[EventFeed]:
        self._settings = stack.settings
        self.partitions = stack.settings.partitions
        self._producer: AIOKafkaProducer = make_producer(stack.settings, "contract-feed")
        await self._producer.start()
        feed = self.binding(stack.settings, "E", recent_bytes=1024**2, backfill=10)
        await feed.start()
        try:
            yield feed
        finally:
            await feed.stop()
            await self._producer.stop()

    async def append(self, company_id: str, value: bytes) -> int:
        settings = self._settings
        written = await append(self._producer, settings, settings.events_topic, company_id, value)
        return int(written.offset)


@pytest.mark.integration
class TestRdKafkaEventFeed(TestKafkaEventFeed):
    binding = RdKafkaEventFeed
