"""The EventsLog contract (`tidewire_platform.events_log`), run against every binding.

Each binding gives the log and a way to append a record of a company as the projector does
(`append`), and to play retention (`expire`). Companies are fresh per test, and every read
starts after the partition's head at the test's start, so the real topic's older records
(other tests', other companies') stay out of the way, as they would in production.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from tests.contracts.support import event, fresh, neighbour
from tests.support.kafka import expire_events
from tests.support.stack import Stack
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log import EventsLog, ForeignCursor, StaleCursor
from tidewire_platform.events_log_kafka import KafkaEventsLog
from tidewire_platform.events_log_memory import MemoryEventsLog
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.partitioning import partition_for


class EventsLogContract(ABC):
    """The tests; a binding's class gives `log`, `append`, `expire` and `partitions`."""

    partitions: int

    @pytest.fixture
    @abstractmethod
    async def log(self) -> EventsLog | AsyncIterator[EventsLog]: ...

    @abstractmethod
    async def append(self, company_id: str, value: bytes) -> int:
        """Append a record of the company; its offset."""

    @abstractmethod
    async def expire(self, company_id: str) -> None:
        """Retention deletes every record of the company's partition written so far."""

    async def _start(self, log: EventsLog, company_id: str) -> Cursor | None:
        return await log.head(company_id)

    async def test_a_page_holds_the_company_events_in_order_and_no_other(
        self, log: EventsLog
    ) -> None:
        acme = fresh("acme")
        other = neighbour(acme, self.partitions)
        start = await self._start(log, acme)
        for n, company in enumerate([acme, other, acme, other, acme]):
            await self.append(company, event(company, n).to_bytes())
        page = await log.page(acme, start, 10)
        assert [e.id for e in page.events] == [f"{acme}-e0", f"{acme}-e2", f"{acme}-e4"]
        assert page.more is False
        offsets = [Cursor.decode(e.cursor or "").offset for e in page.events]
        assert offsets == sorted(offsets)
        assert page.next is not None
        assert page.next.offset >= offsets[-1]
        assert (await log.page(acme, page.next, 10)).events == []

    async def test_paging_by_limit_continues_where_the_last_page_ended(
        self, log: EventsLog
    ) -> None:
        acme = fresh("acme")
        start = await self._start(log, acme)
        for n in range(5):
            await self.append(acme, event(acme, n).to_bytes())
        seen: list[str] = []
        cursor, pages = start, 0
        while True:
            page = await log.page(acme, cursor, 2)
            assert len(page.events) <= 2
            seen += [e.id for e in page.events]
            cursor, pages = page.next, pages + 1
            if not page.more:
                break
        assert seen == [f"{acme}-e{n}" for n in range(5)]
        assert pages >= 3

    async def test_a_page_stops_before_max_bytes_but_always_takes_its_first_event(
        self, log: EventsLog
    ) -> None:
        acme = fresh("acme")
        start = await self._start(log, acme)
        for n in range(3):
            await self.append(acme, event(acme, n, body="x" * 1000).to_bytes())
        page = await log.page(acme, start, 10, max_bytes=10)
        assert [e.id for e in page.events] == [f"{acme}-e0"]
        assert page.more is True
        rest = await log.page(acme, page.next, 10, max_bytes=1_000_000)
        assert [e.id for e in rest.events] == [f"{acme}-e1", f"{acme}-e2"]

    async def test_until_stops_before_that_offset(self, log: EventsLog) -> None:
        acme = fresh("acme")
        start = await self._start(log, acme)
        offsets = [await self.append(acme, event(acme, n).to_bytes()) for n in range(3)]
        page = await log.page(acme, start, 10, until=offsets[2])
        assert [e.id for e in page.events] == [f"{acme}-e0", f"{acme}-e1"]
        assert page.more is False

    async def test_a_record_that_is_not_an_event_is_skipped(self, log: EventsLog) -> None:
        acme = fresh("acme")
        start = await self._start(log, acme)
        await self.append(acme, event(acme, 0).to_bytes())
        await self.append(acme, b"not an event")
        await self.append(acme, event(acme, 2).to_bytes())
        page = await log.page(acme, start, 10)
        assert [e.id for e in page.events] == [f"{acme}-e0", f"{acme}-e2"]

    async def test_head_bounds_and_window_start_name_the_partition_end(
        self, log: EventsLog
    ) -> None:
        acme = fresh("acme")
        offsets = [await self.append(acme, event(acme, n).to_bytes()) for n in range(3)]
        first, end = await log.bounds(acme)
        assert first <= offsets[0]
        assert end == offsets[-1] + 1
        head = await log.head(acme)
        assert head == Cursor(log.epoch, partition_for(acme, self.partitions), offsets[-1])
        window = await log.window_start(acme, 2)
        assert window is not None
        assert window.offset == end - 3
        assert [e.id for e in (await log.page(acme, window, 10)).events] == [
            f"{acme}-e1",
            f"{acme}-e2",
        ]

    async def test_cursors_of_another_log_or_partition_are_stale(self, log: EventsLog) -> None:
        acme = fresh("acme")
        await self.append(acme, event(acme, 0).to_bytes())
        partition = partition_for(acme, self.partitions)
        with pytest.raises(StaleCursor):
            await log.page(acme, Cursor("another-epoch", partition, 0), 10)
        with pytest.raises(StaleCursor):
            log.check(acme, Cursor(log.epoch, (partition + 1) % max(2, self.partitions), 0))

    async def test_a_cursor_past_the_end_is_foreign(self, log: EventsLog) -> None:
        acme = fresh("acme")
        await self.append(acme, event(acme, 0).to_bytes())
        _, end = await log.bounds(acme)
        with pytest.raises(ForeignCursor):
            await log.page(acme, Cursor(log.epoch, partition_for(acme, self.partitions), end), 1)

    async def test_a_cursor_whose_successor_left_the_retention_is_stale(
        self, log: EventsLog
    ) -> None:
        acme = fresh("acme")
        start = await self._start(log, acme)
        await self.append(acme, event(acme, 0).to_bytes())
        await self.append(acme, event(acme, 1).to_bytes())
        await self.expire(acme)
        # From the oldest offset when the partition was empty before the test.
        before = start or Cursor(log.epoch, partition_for(acme, self.partitions), -1)
        with pytest.raises(StaleCursor):
            await log.page(acme, before, 10)


@pytest.mark.unit
class TestMemoryEventsLog(EventsLogContract):
    partitions = 3

    @pytest.fixture
    async def log(self) -> EventsLog:
        self._log = MemoryEventsLog(self.partitions)
        return self._log

    async def append(self, company_id: str, value: bytes) -> int:
        return self._log.append(company_id, value)

    async def expire(self, company_id: str) -> None:
        partition = self._log.partition_of(company_id)
        _, end = await self._log.bounds(company_id)
        self._log.trim(partition, end)


@pytest.mark.integration
class TestKafkaEventsLog(EventsLogContract):
    @pytest.fixture
    async def log(self, stack: Stack) -> AsyncIterator[EventsLog]:
        self._settings = stack.settings
        self.partitions = stack.settings.partitions
        self._producer: AIOKafkaProducer = make_producer(stack.settings, "contract-events")
        await self._producer.start()
        log = KafkaEventsLog(stack.settings, "contract-events-log")
        await log.start()
        try:
            yield log
        finally:
            await log.stop()
            await self._producer.stop()

    async def append(self, company_id: str, value: bytes) -> int:
        settings = self._settings
        written = await append(self._producer, settings, settings.events_topic, company_id, value)
        return int(written.offset)

    async def expire(self, company_id: str) -> None:
        await expire_events(self._settings, company_id)
