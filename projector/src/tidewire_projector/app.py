"""The faust-streaming application: one consumer group over the commands topic.

Per batch of commands, in this order: journal the outcomes, write the read models, append the
events. A crash between any two steps replays the batch (faust commits only finished offsets);
the journal makes the replay re-apply the same outcomes and append only the events that are
not in the log yet (`events_tail`). Read models before events: a client that receives an event and
then queries the API sees the state that event describes.

One agent folds every partition, so nothing that is one command's fault may fail a batch: a
command the rules refuse (`PoisonCommand`), or whose events are too big to write (checked before
anything of it is staged, against `projector_max_event_bytes` and the producer's max request),
goes to the dead-letter topic with the reason, and the batch goes on. A replay re-checks the
events of its journaled outcome (journaled before the check existed, maybe), and a record the
broker refuses all the same (a topic limit under ours) is found by sending the batch again one
record at a time: only the one refused again is dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from tidewire_platform.contracts import Command, Event, now_ms
from tidewire_platform.cql import cached_rows, connect
from tidewire_platform.kafka_io import MAX_REQUEST_BYTES, make_producer, record_size
from tidewire_platform.metrics import COMMANDS_PROJECTED, PROJECTOR_BATCH_FAILURES, PROJECTOR_LAG
from tidewire_platform.outbound_jobs import job_of
from tidewire_platform.partitioning import company_key, partition_for
from tidewire_platform.probes import Address, start_probes
from tidewire_platform.read_models_home import active_keyspace
from tidewire_platform.settings import StackSettings
from tidewire_projector.domain import PoisonCommand, decide, first_reads
from tidewire_projector.events_tail import EventsTail
from tidewire_projector.journal_cassandra import Journaled, Unit, outcome_ttl
from tidewire_projector.lag import lag_after
from tidewire_projector.store_cached import CachedStore
from tidewire_projector.store_cassandra import CassandraStore, ensure_tables
from tidewire_projector.worker import Worker

log = logging.getLogger("tidewire.projector")
# How long a failed batch waits for appends already handed to the producer (see commands).
_SETTLE_S = 30.0
# Refusals of one record that sending it again cannot change (too large for the producer or
# the broker, malformed): its command is dead-lettered rather than the batch retried for ever.
_REFUSED: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,  # raised by `send` itself, and the broker's errno 10
    RecordListTooLargeError,
    RecordTooLargeError,
    CorruptRecordException,
)
# After a refused batch, an idempotent producer's sequence numbers for that partition are past
# what the broker holds, and every later batch there is refused like this: a new producer.
_BROKEN: tuple[type[Exception], ...] = (*_REFUSED, OutOfOrderSequenceNumber)

settings = StackSettings()
app = faust.App(
    settings.projector_group,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    web_enabled=False,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.kafka_replication_factor,  # faust's own topics
    consumer_auto_offset_reset="earliest",
    datadir=str(settings.home / "projector"),  # faust's working files, not in the repo root
    Worker=Worker,
)
commands_topic = app.topic(settings.commands_topic, value_serializer="raw", key_serializer="raw")


class _Resources:
    """Cassandra store and events producer, opened once the worker starts."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.store: CachedStore | None = None
        self.producer: AIOKafkaProducer | None = None
        self.tail = EventsTail(settings)
        self.probes: web.AppRunner | None = None  # /healthz, /readyz, /metrics (probes.py)

    async def get(self) -> tuple[CachedStore, AIOKafkaProducer]:
        await self.opened.wait()  # opened by `_start` before faust starts the agents; kept safe
        assert self.store is not None
        assert self.producer is not None
        return self.store, self.producer

    async def renew_producer(self) -> AIOKafkaProducer:
        """A fresh events producer in place of the current one (see `_BROKEN`); the current
        one is kept until the fresh one has started."""
        fresh = make_producer(settings, "tidewire-projector")
        try:
            await fresh.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await fresh.stop()
            raise
        old, self.producer = self.producer, fresh
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()
        return fresh


_res = _Resources()


async def _forget(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
    """Partitions moved: another process may have written these companies, so forget what
    this one remembers of them. faust sends this once every event taken is acked, that is
    between batches; should it not, the batch in flight keeps its staged outcomes."""
    if _res.store is not None:
        _res.store.forget_written()


async def _no_lag_of(sender: Any, revoked: Any = None, **kwargs: Any) -> None:
    """Partitions this process no longer reads: their lag is another process's to report
    (a stale value here would keep a lag alert firing for ever)."""
    for tp in revoked or ():
        with contextlib.suppress(KeyError):
            PROJECTOR_LAG.remove(str(tp.partition))


app.on_partitions_revoked.connect(_forget)  # type: ignore[arg-type]  # faust stubs
app.on_partitions_revoked.connect(_no_lag_of)  # type: ignore[arg-type]
app.on_partitions_assigned.connect(_forget)  # type: ignore[arg-type]


async def _open() -> None:
    session = connect(settings, row_factory=cached_rows)  # no LWT here
    # Read models live where the last rebuild put them (see rebuild.py).
    keyspace = await active_keyspace(session, settings.cassandra_keyspace)
    if keyspace != settings.cassandra_keyspace:
        await ensure_tables(session, settings.cassandra_keyspace, keyspace)
    ttl_s = outcome_ttl(settings.events_retention_ms)  # replays past it have no events left
    _res.store = CachedStore(
        CassandraStore(session, keyspace, ttl_s), max_bytes=settings.projector_cache_bytes
    )
    producer = make_producer(settings, "tidewire-projector")
    await producer.start()
    _res.producer = producer
    _res.opened.set()


# Where /healthz, /readyz and /metrics are served (probes.py); `__main__` sets it from --port.
probes_address: Address | None = None


def _not_ready() -> str | None:
    if not _res.opened.is_set():
        return "still opening Cassandra and the events producer"
    return None


async def _start() -> None:
    """Probes first (so /healthz answers while the stores open), then the stores."""
    if probes_address is not None:
        _res.probes = await start_probes(probes_address, _not_ready)
    await _open()


Worker.early_start = _start


@dataclass(frozen=True)
class _Source:
    """The command record appends come from: what is dead-lettered when they cannot be
    written."""

    value: bytes
    key: bytes | None
    offset: int
    partition: int | None

    @classmethod
    def of(cls, record: Any) -> _Source:
        message = record.message
        return cls(record.value, record.key, message.offset, getattr(message, "partition", None))

    def dead_letter(self, reason: object) -> _Append:
        """This command for the dead-letter topic, with `reason` in its `error` header. Same
        key, so a company's dead letters stay together."""
        error = [("error", str(reason)[:500].encode())]
        dead = _Append(settings.deadletter_topic, self.value, self.key, None, error)
        if dead.size() <= MAX_REQUEST_BYTES:
            return dead
        # Only a command at the very record limit gets here: it stays in the commands log,
        # and the dead letter says where.
        where = {"commands_partition": self.partition, "commands_offset": self.offset}
        return _Append(settings.deadletter_topic, json.dumps(where).encode(), self.key, None, error)


@dataclass(frozen=True)
class _Append:
    """A record to append to a topic once the batch's read models are written."""

    topic: str
    value: bytes
    key: bytes | None
    partition: int | None = None  # None: the producer's partitioner, by key
    headers: list[tuple[str, bytes]] | None = None
    source: _Source | None = None  # the command of an event, for a dead letter if refused

    @classmethod
    def event(cls, event: Event, source: _Source | None = None) -> _Append:
        partition = partition_for(event.company_id, settings.partitions)
        key = company_key(event.company_id)
        return cls(settings.events_topic, event.to_bytes(), key, partition, None, source)

    def size(self) -> int:
        return record_size(self.key, self.value, self.headers)

    def job(self) -> _Append | None:
        """For an agent's new message, the same record for the outbound topic; else None."""
        if self.topic != settings.events_topic or job_of(self.value) is None:
            return None
        return _Append(settings.outbound_topic, self.value, self.key, self.partition)

    async def send(self, producer: AIOKafkaProducer) -> asyncio.Future[Any]:
        """Enqueue in order; the returned future resolves when the broker has it."""
        fut = await producer.send(
            self.topic, self.value, key=self.key, partition=self.partition, headers=self.headers
        )
        return fut  # type: ignore[no-any-return]


def _unwritable(event: Event, append: _Append) -> str | None:
    """Why the record of `event` cannot be written, or None."""
    if len(append.value) > settings.projector_max_event_bytes:
        return (
            f"event {event.type} {event.id} of {len(append.value):,} bytes exceeds the "
            f"{settings.projector_max_event_bytes:,} bytes an event may have"
        )
    if (size := append.size()) > MAX_REQUEST_BYTES:
        return (
            f"event {event.type} {event.id} makes a record of {size:,} bytes, over the "
            f"producer's {MAX_REQUEST_BYTES:,}"
        )
    return None


def _appends(events: list[Event], source: _Source) -> tuple[list[_Append], list[str]]:
    """The records of `events`, and why those that cannot be written cannot."""
    records: list[_Append] = []
    refused: list[str] = []
    for event in events:
        try:
            record = _Append.event(event, source)
        except (ValueError, TypeError, RecursionError) as exc:  # pydantic's serialisation
            refused.append(f"event {event.type} {event.id} cannot be encoded: {exc}")
            continue
        why = _unwritable(event, record)
        if why is None:
            records.append(record)
        else:
            refused.append(why)
    return records, refused


@dataclass(frozen=True)
class _Replay:
    """A command applied before at the same position (a crash interrupted its batch): its
    journaled outcome is applied again, and its events appended if the log lacks them."""

    journaled: Journaled
    source: _Source


class _Batch:
    """One batch of commands on its way: outcomes staged in the store, then the event appends
    and dead letters to make once the store has flushed, in log order."""

    def __init__(self, store: CachedStore) -> None:
        self.store = store
        # In log order per company: an event or dead letter to append, or a replayed
        # command whose events are appended only if missing.
        self.appends: list[_Append | _Replay] = []
        self.outcomes: list[str] = []

    async def fold(self, records: list[Any]) -> None:
        """Fold a batch: every command id is looked up in the journal at once (applied before
        at another position: a duplicate; at this position: a replay after a crash) while the
        documents the rules read first are loaded, then companies concurrently, each in log
        order."""
        by_company: dict[str, list[tuple[Any, Command]]] = {}
        for record in records:
            try:
                command = Command.from_bytes(record.value)
            except ValueError as exc:
                self._dead(record, exc)
                continue
            by_company.setdefault(command.company_id, []).append((record, command))
        hints = {c: [r for _, cmd in cs for r in first_reads(cmd)] for c, cs in by_company.items()}
        positions: dict[str, set[int]] = {}
        for cs in by_company.values():
            for record, command in cs:
                positions.setdefault(command.id, set()).add(record.message.offset)
        # Task groups, not gather: when one part fails, gather leaves the others running, and
        # they went on staging into the store the retry of this batch folds again (a command
        # counted twice). A group cancels them and waits before the failure goes up.
        async with asyncio.TaskGroup() as group:
            looked_up = group.create_task(self.store.journaled(positions))
            group.create_task(self.store.prefetch(hints))
        seen = looked_up.result()
        async with asyncio.TaskGroup() as group:
            for cs in by_company.values():
                group.create_task(self._company(cs, seen))

    async def _company(self, commands: list[tuple[Any, Command]], seen: dict[str, Any]) -> None:
        for record, command in commands:
            position = record.message.offset
            source = _Source.of(record)
            journaled = seen.get(command.id)
            if journaled is not None and journaled.position != position:
                self.outcomes.append("duplicate")  # accepted twice: applied the first time
                continue
            if journaled is not None:
                self._replay(record, journaled, source)
                continue
            try:
                outcome = await decide(command, position, self.store)
            except PoisonCommand as exc:
                self._dead(record, exc)
                continue
            appends, refused = _appends(outcome.events, source)
            if refused:
                # Nothing of it is applied: read models never show what no event announced.
                self._dead(record, "; ".join(refused))
                continue
            self.store.stage(Unit(outcome, command.id, position))
            seen[command.id] = Journaled(position, now_ms(), outcome)
            self.appends.extend(appends)
            self.outcomes.append("applied")

    def _replay(self, record: Any, journaled: Journaled, source: _Source) -> None:
        """Apply a journaled outcome again. Its events were checked when it was decided,
        unless that was before the check existed: those that cannot be written are
        dead-lettered now (the read models keep what the outcome wrote)."""
        outcome = journaled.outcome
        assert outcome is not None  # the journal reads it for replays
        self.store.stage(Unit(outcome))
        writable, refused = _appends(outcome.events, source)
        if refused:
            ids = {json.loads(a.value)["id"] for a in writable}
            kept = [e for e in outcome.events if e.id in ids]
            outcome = outcome.model_copy(update={"events": kept})
            journaled = Journaled(journaled.position, journaled.recorded_at, outcome)
            self._dead(record, "; ".join(refused), "replayed")
        self.appends.append(_Replay(journaled, source))
        self.outcomes.append("replayed")

    def _dead(self, record: Any, reason: object, outcome: str = "deadletter") -> None:
        self.appends.append(_Source.of(record).dead_letter(reason))
        if outcome == "deadletter":
            self.outcomes.append(outcome)
        else:  # a replay whose events are dead-lettered: counted as both
            COMMANDS_PROJECTED.labels("deadletter").inc()
        log.warning("dead-lettered command at offset %d: %s", record.message.offset, reason)

    def _replayed_since(self) -> dict[int, int]:
        """Per partition, the earliest first application among the batch's replays: the
        events log is read from then on to see which of their events it holds."""
        since: dict[int, int] = {}
        for item in self.appends:
            if isinstance(item, _Replay) and item.journaled.outcome is not None:
                at = item.journaled.recorded_at
                for event in item.journaled.outcome.events:
                    p = partition_for(event.company_id, settings.partitions)
                    since[p] = min(since.get(p, at), at)
        return since

    async def finish(
        self,
        producer: AIOKafkaProducer,
        renew: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
    ) -> None:
        """Flush the read models, then append the events (read models first: a client that
        receives an event and queries the API sees what it describes). Replayed commands
        append only the events the log does not hold yet (`events_tail`).

        Agents' messages to send go to the outbound topic before their events, and are
        acknowledged first: a crash in between replays the command, which finds its event
        missing and appends both again (the outbound sender skips the twin). The other order
        could leave an event whose send was never asked for.

        With `renew` (a producer factory), records go one at a time, each acknowledged before
        the next: the retry of a batch the broker refused a record of (see `_one_by_one`)."""
        await self.store.flush()
        present = await _res.tail.present(self._replayed_since())
        records: list[_Append] = []
        for item in self.appends:
            if isinstance(item, _Append):
                records.append(item)
                continue
            assert item.journaled.outcome is not None  # a replay: append what the log lacks
            for event in item.journaled.outcome.events:
                partition = partition_for(event.company_id, settings.partitions)
                if event.id not in present[partition]:
                    records.append(_Append.event(event, item.source))
        if renew is not None:
            await self._one_by_one(records, producer, renew)
        else:
            jobs = [job for job in (r.job() for r in records) if job is not None]
            await asyncio.gather(*[await job.send(producer) for job in jobs])
            acks = [await record.send(producer) for record in records]
            await asyncio.gather(*acks)  # every event durable before the batch counts as done
        for outcome in self.outcomes:
            COMMANDS_PROJECTED.labels(outcome).inc()

    async def _one_by_one(
        self,
        records: list[_Append],
        producer: AIOKafkaProducer,
        renew: Callable[[], Awaitable[AIOKafkaProducer]],
    ) -> None:
        """Each record (an event after its outbound job) alone, in order. The broker refuses
        a whole producer batch for one record in it, so this is how the record is found: one
        refused alone has its command dead-lettered, with a new producer (the refusal broke
        the old one's sequence numbers for that partition)."""
        for record in records:
            pair = [job, record] if (job := record.job()) is not None else [record]
            try:
                for item in pair:
                    await (await item.send(producer))
            except _REFUSED as exc:
                if record.source is None:  # a dead letter refused: nothing smaller to write
                    raise
                producer = await renew()
                log.error(
                    "the broker refused an event of the command at offset %d: %s",
                    record.source.offset,
                    exc,
                )
                await (await record.source.dead_letter(f"event refused: {exc!r}").send(producer))
                COMMANDS_PROJECTED.labels("deadletter").inc()


@app.agent(commands_topic)
async def commands(stream: Any) -> None:
    """Commands in batches (see `projector_batch_max` and `projector_batch_wait_ms`):
    companies are folded concurrently, each in log order, and the whole batch is written with
    a few requests. faust commits a batch's offsets only after this loop asks for the next
    batch."""
    batch_max, wait_s = settings.projector_batch_max, settings.projector_batch_wait_ms / 1000
    async for records in stream.take_events(batch_max, within=wait_s):
        renew: Callable[[], Awaitable[AIOKafkaProducer]] | None = None
        while True:
            # faust acks a batch's events even when this body raises, so a failure must never
            # escape: retry until Cassandra and Kafka take it (the journal makes retries safe).
            store, producer = await _res.get()  # the newest producer: a refusal renews it
            batch = _Batch(store)
            try:
                await batch.fold(records)
                await batch.finish(producer, renew)
                break
            except Exception as exc:
                PROJECTOR_BATCH_FAILURES.inc()
                log.exception("projecting a batch failed; retrying it")
                store.clear()  # memory may be ahead of Cassandra now
                # Appends handed to the producer before the failure may still land: let them
                # land or fail before the retry reads the log for what it already holds, or
                # it would append them again.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.flush(), _SETTLE_S)
                if isinstance(exc, _BROKEN):
                    # A record refused by the broker: the retry finds it one record at a time.
                    renew = _res.renew_producer
                    try:
                        await renew()
                    except Exception:  # Kafka away: this attempt fails, the next renews again
                        log.exception("could not start a new events producer")
                await asyncio.sleep(1.0)
        for partition, behind in lag_after(records, app.consumer.highwater).items():
            PROJECTOR_LAG.labels(str(partition)).set(behind)
