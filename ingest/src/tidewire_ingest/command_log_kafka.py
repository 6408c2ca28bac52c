"""CommandLog on Kafka: the idempotent producer of the shared kernel, one per process."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tidewire_ingest.command_log import LogUnavailable, encoded
from tidewire_platform.contracts import Command
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.partitioning import company_key, partition_for
from tidewire_platform.settings import StackSettings

_SEND_TIMEOUT_S = 8.0


class KafkaCommandLog:
    def __init__(self, settings: StackSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        # Started lazily so ingest boots (and answers 503) while Kafka is still down.
        if self._producer is not None:
            return self._producer  # every request after the first: no lock to take
        async with self._lock:
            if self._producer is None:
                producer = make_producer(self._settings, "tidewire-ingest")
                try:
                    await asyncio.wait_for(producer.start(), _SEND_TIMEOUT_S)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise LogUnavailable(f"Kafka unreachable: {exc!r}") from exc
                self._producer = producer
            return self._producer

    async def append(self, command: Command) -> None:
        value = encoded(command)
        producer = await self._started()
        try:
            await asyncio.wait_for(
                append(
                    producer,
                    self._settings,
                    self._settings.commands_topic,
                    command.company_id,
                    value,
                ),
                _SEND_TIMEOUT_S,
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            raise LogUnavailable(f"Kafka did not acknowledge the command: {exc!r}") from exc

    async def append_many(self, commands: list[Command]) -> None:
        values = [encoded(c) for c in commands]  # all or nothing: before any is sent
        producer = await self._started()
        settings = self._settings
        try:
            async with asyncio.timeout(_SEND_TIMEOUT_S):
                # Enqueue one after the other (keeps order), then wait for all acks together
                # so one request's records share producer batches.
                pending = [
                    await producer.send(
                        settings.commands_topic,
                        value,
                        key=company_key(c.company_id),
                        partition=partition_for(c.company_id, settings.partitions),
                    )
                    for c, value in zip(commands, values, strict=True)
                ]
                if len(pending) == 1:
                    await pending[0]  # most webhooks: gather's extra future is measurable
                else:
                    await asyncio.gather(*pending)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise LogUnavailable(f"Kafka did not acknowledge the commands: {exc!r}") from exc

    async def ready(self) -> bool:
        try:
            producer = await self._started()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 3)
            return True
        except (LogUnavailable, KafkaError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
