"""The events partitions this node follows, read without a consumer group.

Each node keeps its own position per partition (no group, no rebalance): nodes never steal
work from each other, and a partition is read only by nodes that have clients of a company
hashed to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.kafka_topic_id import fetch_topic_ids
from tidewire_platform.settings import StackSettings

log = logging.getLogger("tidewire.edge.feed")

Deliver = Callable[[Event], Awaitable[None]]


class EventFeed:
    def __init__(self, settings: StackSettings, deliver: Deliver) -> None:
        self._s = settings
        self._epoch = ""
        self._deliver = deliver
        self._consumer: AIOKafkaConsumer | None = None
        self._followed: set[int] = set()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def epoch(self) -> str:
        """The events topic's id: the epoch every cursor this node hands out carries."""
        return self._epoch

    async def start(self) -> None:
        ids = await fetch_topic_ids(self._s.kafka_bootstrap, [self._s.events_topic])
        if self._s.events_topic not in ids:
            raise RuntimeError(
                f"topic {self._s.events_topic} missing: run `tidewire infra migrate`"
            )
        self._epoch = ids[self._s.events_topic]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._s.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=20,  # latency over batching: events wait at most 20 ms
            isolation_level="read_uncommitted",
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="edge-feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()

    async def follow(self, partition: int) -> None:
        """Return once `partition` is read from its current end: anything appended after this
        call returns is delivered."""
        if partition in self._followed:
            return
        fut = self._pending.get(partition)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._pending[partition] = fut
        await asyncio.shield(fut)

    async def _adopt_pending(self) -> None:
        assert self._consumer is not None
        new = dict(self._pending)
        self._pending.clear()
        tps = [TopicPartition(self._s.events_topic, p) for p in new]
        ends = await self._consumer.end_offsets(tps)
        self._followed |= set(new)
        self._consumer.assign([TopicPartition(self._s.events_topic, p) for p in self._followed])
        for tp in tps:
            self._consumer.seek(tp, ends[tp])
        for fut in new.values():
            if not fut.done():
                fut.set_result(None)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                if self._pending:
                    await self._adopt_pending()
                if not self._followed:
                    await asyncio.sleep(0.02)
                    continue
                batches = await self._consumer.getmany(timeout_ms=50, max_records=500)
                for tp, records in batches.items():
                    for rec in records:
                        cursor = Cursor(self._epoch, tp.partition, rec.offset).encode()
                        try:
                            event = Event.from_bytes(rec.value or b"", cursor)
                        except ValueError:
                            log.error("undecodable event at %s:%s", tp.partition, rec.offset)
                            continue
                        await self._deliver(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the node alive; the next loop retries
                log.exception("event feed iteration failed")
                await asyncio.sleep(0.5)
