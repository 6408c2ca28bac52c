"""Which events are already in the events log, for commands replayed after a crash.

A crash between appending an event and committing the command's offset replays the command.
Its journal says when it was first applied; before appending again, the projector looks at the
events written since then on that partition. Only replays pay for this read, and one read per
partition serves the whole replayed tail.
"""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, TopicPartition

from tidewire_platform.settings import StackSettings

# Producer and broker share the host clock here; the margin covers skew between machines.
_CLOCK_MARGIN_MS = 60_000


class EventsTail:
    def __init__(self, settings: StackSettings) -> None:
        self._settings = settings
        self._seen: dict[int, set[str]] = {}
        self._consumer: AIOKafkaConsumer | None = None

    async def _open(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap,
                enable_auto_commit=False,
                client_id="tidewire-projector-tail",
            )
            await self._consumer.start()
        return self._consumer

    async def contains(self, partition: int, since_ms: int, event_id: str) -> bool:
        if partition not in self._seen:
            self._seen[partition] = await self._scan(partition, since_ms - _CLOCK_MARGIN_MS)
        return event_id in self._seen[partition]

    def appended(self, partition: int, event_id: str) -> None:
        if partition in self._seen:
            self._seen[partition].add(event_id)

    async def _scan(self, partition: int, since_ms: int) -> set[str]:
        consumer = await self._open()
        tp = TopicPartition(self._settings.events_topic, partition)
        consumer.assign([tp])
        start = (await consumer.offsets_for_times({tp: max(since_ms, 0)}))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        ids: set[str] = set()
        if start is None:
            return ids
        consumer.seek(tp, start.offset)
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                if record.value is not None:
                    ids.add(json.loads(record.value)["id"])
        return ids

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
