"""Reading the real topics from tests: positions before an action, records after it."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete
from aiokafka.structs import ConsumerRecord

from tidewire_platform.partitioning import partition_for
from tidewire_platform.settings import StackSettings


class PartitionReader:
    """Reads one company's partition of a topic from the position it had when opened."""

    def __init__(self, settings: StackSettings, topic: str, company_id: str) -> None:
        self.tp = TopicPartition(topic, partition_for(company_id, settings.partitions))
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
        )
        self.company_id = company_id
        self.start_offset = -1

    async def __aenter__(self) -> PartitionReader:
        await self._consumer.start()
        self._consumer.assign([self.tp])
        self.start_offset = (await self._consumer.end_offsets([self.tp]))[self.tp]
        self._consumer.seek(self.tp, self.start_offset)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    def seek_to_start(self) -> None:
        """Read from `start_offset` (set it first to re-read older records)."""
        self._consumer.seek(self.tp, self.start_offset)

    async def read(self, count: int, within: float = 20) -> list[ConsumerRecord[bytes, bytes]]:
        """Exactly the first `count` records of this company after the start position."""
        out: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + within
        while len(out) < count and time.monotonic() < deadline:
            batch = await self._consumer.getmany(self.tp, timeout_ms=200)
            out += [r for r in batch.get(self.tp, []) if r.key == self.company_id.encode()]
        return out

    async def settle(self, quiet_s: float = 1.5) -> list[ConsumerRecord[bytes, bytes]]:
        """Everything of this company that arrives until the partition stays quiet."""
        out: list[ConsumerRecord[bytes, bytes]] = []
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            batch = await self._consumer.getmany(self.tp, timeout_ms=200)
            mine = [r for r in batch.get(self.tp, []) if r.key == self.company_id.encode()]
            if mine:
                out += mine
                last = time.monotonic()
            await asyncio.sleep(0)
        return out


async def expire_events(settings: StackSettings, company_id: str) -> None:
    """Delete the company's events partition up to its end, as Kafka's retention would."""
    tp = TopicPartition(settings.events_topic, partition_for(company_id, settings.partitions))
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        end = (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_records({tp: RecordsToDelete(end)}, timeout_ms=10_000)
    finally:
        await admin.close()
