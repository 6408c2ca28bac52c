"""EventsLog in memory: partitions as lists, for unit tests and the contract suite.

Keeps the Kafka binding's shape where callers can see it: companies share partitions
(`partition_for`), offsets are per partition and never reused, `trim` plays retention, and
`append` returns the offset a record got. Live followers (`feed_memory` of the edge) are told
of every append through `listen`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log import (
    PAGE_BYTES,
    SCAN_BUDGET,
    ForeignCursor,
    Page,
    StaleCursor,
)
from tidewire_platform.partitioning import company_key, partition_for

log = logging.getLogger("tidewire.events_log")

# (partition, offset, key, value) of each appended record
Listener = Callable[[int, int, bytes, bytes], None]


class MemoryEventsLog:
    def __init__(self, partitions: int = 3, epoch: str = "memory-epoch") -> None:
        self.epoch = epoch
        self._partitions = partitions
        # partition -> (first retained offset, records from it on as (key, value))
        self._records: dict[int, list[tuple[bytes, bytes]]] = {}
        self._first: dict[int, int] = {}
        self._listeners: list[Listener] = []

    def partition_of(self, company_id: str) -> int:
        return partition_for(company_id, self._partitions)

    def append(self, company_id: str, value: bytes) -> int:
        """Append a record of the company (an event's bytes, or anything: a reader must skip
        what is not an event); returns its offset."""
        partition = self.partition_of(company_id)
        records = self._records.setdefault(partition, [])
        offset = self._first.get(partition, 0) + len(records)
        key = company_key(company_id)
        records.append((key, value))
        for listener in list(self._listeners):
            listener(partition, offset, key, value)
        return offset

    def append_event(self, event: Event) -> int:
        return self.append(event.company_id, event.to_bytes())

    def trim(self, partition: int, before: int) -> None:
        """Retention: forget the partition's records before offset `before`."""
        first = self._first.get(partition, 0)
        records = self._records.get(partition, [])
        drop = max(0, min(before - first, len(records)))
        self._records[partition] = records[drop:]
        self._first[partition] = first + drop

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def records(self, partition: int, start: int) -> list[tuple[int, bytes, bytes]]:
        """(offset, key, value) of the partition's retained records from `start` on."""
        first = self._first.get(partition, 0)
        records = self._records.get(partition, [])
        skip = max(0, start - first)
        return [(first + skip + i, k, v) for i, (k, v) in enumerate(records[skip:])]

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def check(self, company_id: str, after: Cursor) -> None:
        if after.epoch != self.epoch:
            raise StaleCursor("cursor is from an earlier events log (epoch changed); resync")
        if after.partition != self.partition_of(company_id):
            raise StaleCursor("cursor is from another partition of the events log; resync")

    async def bounds(self, company_id: str) -> tuple[int, int]:
        partition = self.partition_of(company_id)
        first = self._first.get(partition, 0)
        return first, first + len(self._records.get(partition, []))

    async def head(self, company_id: str) -> Cursor | None:
        _, end = await self.bounds(company_id)
        return Cursor(self.epoch, self.partition_of(company_id), end - 1) if end else None

    async def window_start(self, company_id: str, records: int) -> Cursor | None:
        first, end = await self.bounds(company_id)
        start = max(first, end - records)
        return Cursor(self.epoch, self.partition_of(company_id), start - 1) if start else None

    async def page(
        self,
        company_id: str,
        after: Cursor | None,
        limit: int,
        until: int | None = None,
        max_bytes: int = PAGE_BYTES,
    ) -> Page:
        if after is not None:
            self.check(company_id, after)
        partition = self.partition_of(company_id)
        first, end = await self.bounds(company_id)
        stop = end if until is None else min(until, end)
        start = first if after is None else after.offset + 1
        if start < first:
            raise StaleCursor("cursor is older than the events log's retention; resync")
        if start > end:
            raise ForeignCursor("cursor points past the end of the events log")
        key = company_key(company_id)
        events: list[Event] = []
        size = 0
        last = start - 1
        for offset, record_key, value in self.records(partition, start):
            if offset >= stop or offset - start >= SCAN_BUDGET:
                break
            if len(events) >= limit:
                break
            if record_key == key:
                if events and size + len(value) > max_bytes:
                    break  # this record starts the next page
                size += len(value)
                try:
                    cursor = Cursor(self.epoch, partition, offset).encode()
                    events.append(Event.from_bytes(value, cursor))
                except ValueError:
                    log.error("undecodable event at %s:%s", partition, offset)
            last = offset
        next_cursor = Cursor(self.epoch, partition, last) if last >= 0 else after
        return Page(events, next_cursor, more=last + 1 < stop)
