"""Which events are already in the events log, for commands replayed after a crash.

A crash between appending an event and committing the command's offset replays the command.
Its journal says when it was first applied; before appending again, the projector looks at the
events written since then on that partition. Only batches with replays pay for this read: one
per partition, from the earliest of their replays.
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
        self._consumer: AIOKafkaConsumer | None = None

    async def _open(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap,
                enable_auto_commit=False,
                client_id="tidewire-projector-tail",
                # Retention deleting where a scan reads: go on from the oldest event left,
                # never jump to the end (aiokafka's default), which would miss events.
                auto_offset_reset="earliest",
            )
            await self._consumer.start()
        return self._consumer

    async def present(self, since: dict[int, int]) -> dict[int, set[str]]:
        """The ids of the events in each partition of `since` appended from its time on
        (ms; the earliest first application among the replayed commands). Read afresh for
        every batch that replays: what the log holds is the only truth after a crash, a
        rebalance or a failed send (a set kept across batches went stale)."""
        return {p: await self._scan(p, at - _CLOCK_MARGIN_MS) for p, at in since.items()}

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
                try:
                    ids.add(json.loads(record.value)["id"])
                except (TypeError, ValueError, LookupError):
                    # Not an event of ours: skipped, as every reader of the log does. Failing
                    # here would fail every replay past it, for every tenant of the partition.
                    continue
        return ids

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
