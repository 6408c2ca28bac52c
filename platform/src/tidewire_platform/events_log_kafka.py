"""EventsLog on Kafka: one company's events after a cursor, read from the events topic itself.

Catch-up reads (`GET /api/events?after=`, `lastEventId`, socket recovery) all come from Kafka:
the log is the authority on what exists and on retention, so a cursor is "too old" exactly
when Kafka has deleted its successor, and a page can never disagree with what sockets get.
A company shares its partition with other companies; records are filtered by key, and a page
stops after a bounded scan or at a bounded size in bytes (then `more` is true and `next`
points past what was returned), so one request never reads or holds without limit and nothing
is silently skipped. Reads share one consumer and take turns round-robin between companies
(fair_turns.py): one company's deep replay delays another's catch-up by at most one page.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log import (
    PAGE_BYTES,
    SCAN_BUDGET,
    ForeignCursor,
    Page,
    StaleCursor,
)
from tidewire_platform.fair_turns import FairTurns
from tidewire_platform.kafka_topic_id import fetch_topic_ids
from tidewire_platform.offset_lookups import Fetch, OffsetLookups
from tidewire_platform.partitioning import company_key, partition_for
from tidewire_platform.settings import StackSettings

log = logging.getLogger("tidewire.events_log")


class KafkaEventsLog:
    def __init__(self, settings: StackSettings, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._turns = FairTurns()  # one page read at a time, companies in rotation
        self._lookups = OffsetLookups(self._fetch_bounds)
        self.epoch = ""

    async def start(self) -> None:
        ids = await fetch_topic_ids(self._settings.kafka_bootstrap, [self._settings.events_topic])
        if self._settings.events_topic not in ids:
            raise RuntimeError(
                f"topic {self._settings.events_topic} missing: run `tidewire infra migrate`"
            )
        self.epoch = ids[self._settings.events_topic]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id=self._client_id,
            fetch_max_wait_ms=10,
            # Retention deleting what a page reads must be an error, not a silent jump to
            # the end of the log (aiokafka's default) that a page would report as complete.
            auto_offset_reset="none",
        )
        await consumer.start()
        self._consumer = consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    def check(self, company_id: str, after: Cursor) -> None:
        """Refuse a cursor of another epoch or partition (StaleCursor)."""
        if after.epoch != self.epoch:
            raise StaleCursor("cursor is from an earlier events log (epoch changed); resync")
        if after.partition != partition_for(company_id, self._settings.partitions):
            raise StaleCursor("cursor is from another partition of the events log; resync")

    def use_bounds(self, fetch: Fetch) -> None:
        """Ask partitions' bounds through `fetch` rather than this log's aiokafka consumer:
        an edge passes its librdkafka feed's lookup, whose requests are made in C (aiokafka's
        pure-Python ones were ≈ 7 % of a recovering connect's CPU in a cProfile of churn)."""
        self._lookups = OffsetLookups(fetch)

    async def bounds(self, company_id: str) -> tuple[int, int]:
        """(first retained offset, next offset to be written) of the company's partition."""
        return await self._lookups.bounds(partition_for(company_id, self._settings.partitions))

    async def _fetch_bounds(self, partitions: list[int]) -> dict[int, tuple[int, int]]:
        assert self._consumer is not None, "KafkaEventsLog.start() first"
        tps = [TopicPartition(self._settings.events_topic, p) for p in partitions]
        # Offset lookups touch no fetch state: no lock, so they run beside page reads.
        first, end = await asyncio.gather(
            self._consumer.beginning_offsets(tps), self._consumer.end_offsets(tps)
        )
        return {tp.partition: (first[tp], end[tp]) for tp in tps}

    async def head(self, company_id: str) -> Cursor | None:
        """The position of the newest record in the company's partition (another company's,
        maybe: partitions are shared), so a page after it holds exactly what is appended
        later. None while the partition is empty, where a page from the oldest is the same."""
        _, end = await self.bounds(company_id)
        if end == 0:
            return None
        return Cursor(self.epoch, partition_for(company_id, self._settings.partitions), end - 1)

    async def window_start(self, company_id: str, records: int) -> Cursor | None:
        """A cursor `records` records before the end of the company's partition (or before
        its oldest retained record, if that is later): where a read without a cursor starts,
        so that it never scans the whole retention. None: the window covers the whole log."""
        first, end = await self.bounds(company_id)
        start = max(first, end - records)
        if start == 0:
            return None
        return Cursor(self.epoch, partition_for(company_id, self._settings.partitions), start - 1)

    async def page(
        self,
        company_id: str,
        after: Cursor | None,
        limit: int,
        until: int | None = None,
        max_bytes: int = PAGE_BYTES,
    ) -> Page:
        """Up to `limit` events of the company after `after` (from the oldest retained when
        None), stopping before offset `until` when given, and before the event that would
        take the page past `max_bytes` (the events' size in the log; the first event is
        always taken). Waits for its turn: one page read at a time, companies in rotation."""
        if after is not None:
            self.check(company_id, after)
        consumer = self._consumer
        assert consumer is not None, "KafkaEventsLog.start() first"
        partition = partition_for(company_id, self._settings.partitions)
        tp = TopicPartition(self._settings.events_topic, partition)
        key = company_key(company_id)
        async with self._turns.turn(company_id):
            first = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
            stop = end if until is None else min(until, end)
            start = first if after is None else after.offset + 1
            if start < first:
                raise StaleCursor(
                    "cursor is older than the events log's retention; resync from the read models"
                )
            if start > end:
                raise ForeignCursor("cursor points past the end of the events log")
            events: list[Event] = []
            size = 0
            full = False  # stopped by `limit` or `max_bytes`: more may follow
            last = start - 1
            if start < stop:
                consumer.assign([tp])
                consumer.seek(tp, start)
            while start < stop and not full and last + 1 - start < SCAN_BUDGET:
                try:
                    batch = await consumer.getmany(tp, timeout_ms=500, max_records=500)
                except OffsetOutOfRangeError as exc:
                    raise StaleCursor(
                        "the events after the cursor left the log's retention while being "
                        "read; resync from the read models"
                    ) from exc
                for rec in batch.get(tp, []):
                    if rec.offset >= stop:
                        break
                    if len(events) >= limit:
                        full = True
                        break
                    if rec.key == key and rec.value is not None:
                        if events and size + len(rec.value) > max_bytes:
                            full = True  # this record starts the next page
                            break
                        size += len(rec.value)
                        cursor = Cursor(self.epoch, partition, rec.offset).encode()
                        try:
                            events.append(Event.from_bytes(rec.value, cursor))
                        except ValueError:  # skipped, as the edge's live path does: one
                            # bad record must not fail every catch-up read past it for ever
                            log.error("undecodable event at %s:%s", partition, rec.offset)
                    last = rec.offset
                if not full and await consumer.position(tp) >= stop:
                    last = stop - 1  # everything before `stop` seen (offsets may have gaps)
                    break
        next_cursor = Cursor(self.epoch, partition, last) if last >= 0 else after
        return Page(events, next_cursor, more=last + 1 < stop)
