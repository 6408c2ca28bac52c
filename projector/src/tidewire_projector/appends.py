"""The records a batch appends once its read models are written: events, agents' messages for
the outbound sender, and dead letters, each with the command record it comes from.

An event is checked before anything of its command is staged: one too big to write (over
`projector_max_event_bytes`, or a record over the producer's max request) makes its command a
dead letter, with the reason, instead of failing the batch for every tenant of the agent.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from tidewire_platform.contracts import Event
from tidewire_platform.kafka_io import MAX_REQUEST_BYTES, record_size
from tidewire_platform.outbound_jobs import job_of
from tidewire_platform.partitioning import company_key, partition_for
from tidewire_platform.settings import StackSettings
from tidewire_projector.journal_cassandra import Journaled


@dataclass(frozen=True)
class Topics:
    """Where a batch's records go, and how big an event may be."""

    events: str
    outbound: str
    deadletter: str
    partitions: int
    max_event_bytes: int

    @classmethod
    def of(cls, settings: StackSettings) -> Topics:
        return cls(
            events=settings.events_topic,
            outbound=settings.outbound_topic,
            deadletter=settings.deadletter_topic,
            partitions=settings.partitions,
            max_event_bytes=settings.projector_max_event_bytes,
        )

    def partition(self, company_id: str) -> int:
        """The partition of `company_id` in the events topic."""
        return partition_for(company_id, self.partitions)

    def event(self, event: Event, source: Source | None = None) -> Append:
        """The record of `event`, on its company's partition."""
        key = company_key(event.company_id)
        partition = self.partition(event.company_id)
        return Append(self.events, event.to_bytes(), key, partition, None, source)

    def job(self, record: Append) -> Append | None:
        """For the event of an agent's new message, the same record for the outbound topic;
        else None."""
        if record.topic != self.events or job_of(record.value) is None:
            return None
        return Append(self.outbound, record.value, record.key, record.partition)

    def dead_letter(self, source: Source, reason: object) -> Append:
        """The command of `source` for the dead-letter topic, with `reason` in its `error`
        header. Same key, so a company's dead letters stay together."""
        error = [("error", str(reason)[:500].encode())]
        dead = Append(self.deadletter, source.value, source.key, None, error)
        if dead.size() <= MAX_REQUEST_BYTES:
            return dead
        # Only a command at the very record limit gets here: it stays in the commands log,
        # and the dead letter says where.
        where = {"commands_partition": source.partition, "commands_offset": source.offset}
        return Append(self.deadletter, json.dumps(where).encode(), source.key, None, error)

    def records(self, events: list[Event], source: Source) -> tuple[list[Append], list[str]]:
        """The records of `events`, and why those that cannot be written cannot."""
        records: list[Append] = []
        refused: list[str] = []
        for event in events:
            try:
                record = self.event(event, source)
            except (ValueError, TypeError, RecursionError) as exc:  # pydantic's serialisation
                refused.append(f"event {event.type} {event.id} cannot be encoded: {exc}")
                continue
            why = self._unwritable(event, record)
            if why is None:
                records.append(record)
            else:
                refused.append(why)
        return records, refused

    def _unwritable(self, event: Event, record: Append) -> str | None:
        """Why the record of `event` cannot be written, or None."""
        if len(record.value) > self.max_event_bytes:
            return (
                f"event {event.type} {event.id} of {len(record.value):,} bytes exceeds the "
                f"{self.max_event_bytes:,} bytes an event may have"
            )
        if (size := record.size()) > MAX_REQUEST_BYTES:
            return (
                f"event {event.type} {event.id} makes a record of {size:,} bytes, over the "
                f"producer's {MAX_REQUEST_BYTES:,}"
            )
        return None


@dataclass(frozen=True)
class Source:
    """The command record appends come from: what is dead-lettered when they cannot be
    written."""

    value: bytes
    key: bytes | None
    offset: int
    partition: int | None

    @classmethod
    def of(cls, record: Any) -> Source:
        """The source of a faust event."""
        message = record.message
        return cls(record.value, record.key, message.offset, getattr(message, "partition", None))


@dataclass(frozen=True)
class Append:
    """A record to append to a topic once the batch's read models are written."""

    topic: str
    value: bytes
    key: bytes | None
    partition: int | None = None  # None: the producer's partitioner, by key
    headers: list[tuple[str, bytes]] | None = None
    source: Source | None = None  # the command of an event, for a dead letter if refused

    def size(self) -> int:
        return record_size(self.key, self.value, self.headers)

    async def send(self, producer: AIOKafkaProducer) -> asyncio.Future[Any]:
        """Enqueue in order; the returned future resolves when the broker has it."""
        fut = await producer.send(
            self.topic, self.value, key=self.key, partition=self.partition, headers=self.headers
        )
        return fut  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Replay:
    """A command applied before at the same position (a crash interrupted its batch): its
    journaled outcome is applied again, and its events appended if the log lacks them."""

    journaled: Journaled
    source: Source
