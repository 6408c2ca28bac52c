"""The events log reader, started on first use so ingest answers while Kafka is down."""

from __future__ import annotations

import asyncio

from tidewire_ingest.problems import unavailable
from tidewire_platform.events_log import EventsLog
from tidewire_platform.events_log_kafka import KafkaEventsLog
from tidewire_platform.settings import StackSettings


class LazyEventsLog:
    def __init__(self, settings: StackSettings) -> None:
        self._log = KafkaEventsLog(settings, "tidewire-ingest-events")
        self._started = False
        self._lock = asyncio.Lock()

    async def get(self) -> EventsLog:
        async with self._lock:
            if not self._started:
                try:
                    await asyncio.wait_for(self._log.start(), 10)
                except Exception as exc:
                    await self._log.stop()
                    raise unavailable(
                        "Log unavailable", "Kafka did not answer; retry later", exc
                    ) from exc
                self._started = True
            return self._log

    async def close(self) -> None:
        await self._log.stop()
