"""EventFeed over a `MemoryEventsLog`: the live tail without Kafka, for unit tests.

Every append to the log is handed to the receivers of its company at once, in the appending
call (the Kafka binding hands them out from its reading loop: order and the registration
offset are the same). Memory holds the whole log, so `recent` always answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from tidewire_edge.feed import Receiver, Receivers, hand_out
from tidewire_edge.sizes import event_bytes
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log_memory import MemoryEventsLog
from tidewire_platform.partitioning import company_key

log = logging.getLogger("tidewire.edge.feed")


class MemoryEventFeed:
    def __init__(self, events: MemoryEventsLog) -> None:
        self._events = events
        self._followed: set[int] = set()
        self._receivers = Receivers()
        events.listen(self._appended)

    def registered(self, company_id: str) -> int:
        """How many receivers the company has (for tests)."""
        return len(self._receivers.get(company_key(company_id), ()))

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def reachable(self, timeout_s: float = 3.0) -> bool:
        return True

    async def follow(self, partition: int, timeout_s: float) -> None:
        self._followed.add(partition)

    def register(self, company_id: str, partition: int, receiver: Receiver) -> int:
        assert partition in self._followed, "follow the partition first"
        self._receivers.add(company_id, receiver)
        return self._end(partition)

    def unregister(self, company_id: str, receiver: Receiver) -> None:
        self._receivers.discard(company_id, receiver)

    def recent(
        self, company_id: str, partition: int, after: int, until: int
    ) -> Iterator[tuple[Event, int]] | None:
        key = company_key(company_id)
        found = [
            (offset, value)
            for offset, record_key, value in self._events.records(partition, after + 1)
            if offset < until and record_key == key
        ]
        return self._decoding(partition, found)

    def _decoding(
        self, partition: int, found: list[tuple[int, bytes]]
    ) -> Iterator[tuple[Event, int]]:
        for offset, value in found:
            try:
                event = Event.from_bytes(value, self._cursor(partition, offset))
            except ValueError:
                log.error("undecodable event at %s:%s", partition, offset)
                continue
            yield event, event_bytes(event)

    def _cursor(self, partition: int, offset: int) -> str:
        return Cursor(self._events.epoch, partition, offset).encode()

    def _end(self, partition: int) -> int:
        records = self._events.records(partition, 0)
        return records[-1][0] + 1 if records else 0

    def _appended(self, partition: int, offset: int, key: bytes, value: bytes) -> None:
        if partition not in self._followed:
            return
        receivers = self._receivers.get(key)
        if not receivers:
            return
        try:
            event = Event.from_bytes(value, self._cursor(partition, offset))
        except ValueError:
            log.error("undecodable event at %s:%s", partition, offset)
            return
        hand_out(receivers, event)
