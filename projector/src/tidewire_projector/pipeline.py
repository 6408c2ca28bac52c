"""The projector's pipeline: one batch of commands through five steps, with what each step
needs passed in (the read-model store, the topics, the events log's tail, the producer).

1. decode: the records into commands, grouped by company in log order;
2. dedupe: every command id looked up in the journal at once (applied before at another
   position: a duplicate; at this position: a replay after a crash), while the documents the
   rules read first are loaded;
3. decide: companies concurrently, each in log order: a new command's outcome (`domain`)
   staged in the store, a replay's journaled outcome staged again, a duplicate skipped;
4. write read models: the staged outcomes flushed, journal first;
5. append: events, agents' messages for the outbound sender and dead letters, in log order,
   in one round trip; a replay appends only the events the log does not hold yet
   (`events_tail`), and its agents' messages for the outbound sender again.

Read models before events: a client that receives an event and then queries the API sees the
state that event describes. A crash between any two steps replays the batch (faust commits only
finished offsets), and the journal makes the replay re-apply the same outcomes.

Nothing that is one command's fault may fail a batch, since one agent folds every partition: a
record that is no command, a command the rules refuse (`PoisonCommand`), or one whose events
cannot be written (`appends`) goes to the dead-letter topic with the reason, and the batch goes
on. A record the broker refuses all the same (a topic limit under ours) is found by sending the
batch again one record at a time (`renew`): only the one refused again is dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from tidewire_platform.contracts import Command, now_ms
from tidewire_platform.metrics import COMMANDS_PROJECTED
from tidewire_projector import domain
from tidewire_projector.appends import Append, Replay, Source, Topics
from tidewire_projector.journal_cassandra import Journaled, Unit
from tidewire_projector.outcome import PoisonCommand
from tidewire_projector.store_cached import CachedStore

log = logging.getLogger("tidewire.projector")

# Refusals of one record that sending it again cannot change (too large for the producer or
# the broker, malformed): its command is dead-lettered rather than the batch retried for ever.
REFUSED: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,  # raised by `send` itself, and the broker's errno 10
    RecordListTooLargeError,
    RecordTooLargeError,
    CorruptRecordException,
)

# A fresh events producer in place of the current one (a refusal broke its sequence numbers).
Renew = Callable[[], Awaitable[AIOKafkaProducer]]


class EventsPresent(Protocol):
    """Which events the events log holds (`events_tail.EventsTail`)."""

    async def present(self, since: dict[int, int]) -> dict[int, set[str]]: ...


@dataclass
class Decoded:
    """The decode step's result: commands by company in log order (with their records), and
    the records that are no command, with why."""

    by_company: dict[str, list[tuple[Any, Command]]] = field(default_factory=dict)
    undecodable: list[tuple[Any, ValueError]] = field(default_factory=list)


@dataclass
class Decided:
    """The decide step's result, for the append step: in log order per company, a record to
    append or a replay whose events are appended only if missing; and per command, what
    became of it (the label of `COMMANDS_PROJECTED`)."""

    appends: list[Append | Replay] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)


def decode(records: list[Any]) -> Decoded:
    """Step 1: faust events into commands, by company."""
    decoded = Decoded()
    for record in records:
        try:
            command = Command.from_bytes(record.value)
        except ValueError as exc:
            decoded.undecodable.append((record, exc))
            continue
        decoded.by_company.setdefault(command.company_id, []).append((record, command))
    return decoded


class Pipeline:
    """The steps, over one store, topics and events log; a batch's state lives in what the
    steps return, so one pipeline serves every batch."""

    def __init__(self, store: CachedStore, topics: Topics, tail: EventsPresent) -> None:
        self.store = store
        self.topics = topics
        self.tail = tail

    async def project(
        self, records: list[Any], producer: AIOKafkaProducer, renew: Renew | None = None
    ) -> Decided:
        """Every step, in order; with `renew`, the appends go one record at a time."""
        decided = await self.fold(records)
        await self.write()
        await self.append(decided, producer, renew)
        for outcome in decided.outcomes:
            COMMANDS_PROJECTED.labels(outcome).inc()
        return decided

    async def fold(self, records: list[Any]) -> Decided:
        """Steps 1 to 3: what the batch will write and append, staged in the store."""
        decoded = decode(records)
        return await self.decide(decoded, await self.dedupe(decoded))

    async def dedupe(self, decoded: Decoded) -> dict[str, Journaled]:
        """Step 2: the journal entries of the batch's command ids, while the documents the
        rules read first are loaded."""
        by_company = decoded.by_company
        hints = {
            c: [r for _, cmd in cs for r in domain.first_reads(cmd)] for c, cs in by_company.items()
        }
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
        return looked_up.result()

    async def decide(self, decoded: Decoded, seen: dict[str, Journaled]) -> Decided:
        """Step 3: companies concurrently, each in log order. `seen` (the journal) gains the
        commands applied here, so one accepted twice within the batch is a duplicate."""
        decided = Decided()
        for record, exc in decoded.undecodable:
            self._dead(decided, record, exc)
        async with asyncio.TaskGroup() as group:
            for commands in decoded.by_company.values():
                group.create_task(self._company(decided, commands, seen))
        return decided

    async def write(self) -> None:
        """Step 4: the staged outcomes to Cassandra."""
        await self.store.flush()

    async def append(
        self, decided: Decided, producer: AIOKafkaProducer, renew: Renew | None = None
    ) -> None:
        """Step 5: append the records, each acknowledged before the batch counts as done.

        Agents' messages to send go to the outbound topic as well as their events, all handed
        to the producer at once (one request to a broker, one round trip) and acknowledged
        together. A crash in between replays the command, which appends the event if the log
        lacks it and the outbound record again whatever the log holds (`_missing`): the
        outbound sender skips the twin, while an event whose send was never asked for could
        not be told apart from one already sent.

        With `renew`, records go one at a time, each acknowledged before the next: the retry
        of a batch the broker refused a record of (see `_one_by_one`)."""
        records = await self._missing(decided)
        if renew is not None:
            await self._one_by_one(records, producer, renew)
            return
        jobs = [job for job in (self.topics.job(r) for r in records) if job is not None]
        acks = [await record.send(producer) for record in (*jobs, *records)]
        await asyncio.gather(*acks)

    async def _company(
        self, decided: Decided, commands: list[tuple[Any, Command]], seen: dict[str, Any]
    ) -> None:
        for record, command in commands:
            position = record.message.offset
            source = Source.of(record)
            journaled = seen.get(command.id)
            if journaled is not None and journaled.position != position:
                decided.outcomes.append("duplicate")  # accepted twice: applied the first time
                continue
            if journaled is not None:
                self._replay(decided, record, journaled, source)
                continue
            try:
                outcome = await domain.decide(command, position, self.store)
            except PoisonCommand as exc:
                self._dead(decided, record, exc)
                continue
            appends, refused = self.topics.records(outcome.events, source)
            if refused:
                # Nothing of it is applied: read models never show what no event announced.
                self._dead(decided, record, "; ".join(refused))
                continue
            self.store.stage(Unit(outcome, command.id, position))
            seen[command.id] = Journaled(position, now_ms(), outcome)
            decided.appends.extend(appends)
            decided.outcomes.append("applied")

    def _replay(self, decided: Decided, record: Any, journaled: Journaled, source: Source) -> None:
        """Apply a journaled outcome again. Its events were checked when it was decided,
        unless that was before the check existed: those that cannot be written are
        dead-lettered now (the read models keep what the outcome wrote)."""
        outcome = journaled.outcome
        assert outcome is not None  # the journal reads it for replays
        self.store.stage(Unit(outcome))
        writable, refused = self.topics.records(outcome.events, source)
        if refused:
            ids = {json.loads(a.value)["id"] for a in writable}
            kept = [e for e in outcome.events if e.id in ids]
            outcome = outcome.model_copy(update={"events": kept})
            journaled = Journaled(journaled.position, journaled.recorded_at, outcome)
            self._dead(decided, record, "; ".join(refused), "replayed")
        decided.appends.append(Replay(journaled, source))
        decided.outcomes.append("replayed")

    def _dead(
        self, decided: Decided, record: Any, reason: object, outcome: str = "deadletter"
    ) -> None:
        decided.appends.append(self.topics.dead_letter(Source.of(record), reason))
        if outcome == "deadletter":
            decided.outcomes.append(outcome)
        else:  # a replay whose events are dead-lettered: counted as both
            COMMANDS_PROJECTED.labels("deadletter").inc()
        log.warning("dead-lettered command at offset %d: %s", record.message.offset, reason)

    async def _missing(self, decided: Decided) -> list[Append]:
        """The records to append: every record, of each replay the events the log lacks,
        and the outbound records of a replay's agents' messages whose events the log holds
        (their outbound record may not have been written: see `append`). Only batches with
        replays read the log, one partition each, from the earliest first application among
        their replays on."""
        since: dict[int, int] = {}
        for item in decided.appends:
            if isinstance(item, Replay) and item.journaled.outcome is not None:
                at = item.journaled.recorded_at
                for event in item.journaled.outcome.events:
                    partition = self.topics.partition(event.company_id)
                    since[partition] = min(since.get(partition, at), at)
        present = await self.tail.present(since)
        records: list[Append] = []
        for item in decided.appends:
            if isinstance(item, Append):
                records.append(item)
                continue
            assert item.journaled.outcome is not None  # a replay: append what the log lacks
            for event in item.journaled.outcome.events:
                record = self.topics.event(event, item.source)
                if event.id not in present[self.topics.partition(event.company_id)]:
                    records.append(record)
                elif (job := self.topics.job(record)) is not None:
                    records.append(replace(job, source=item.source))
        return records

    async def _one_by_one(
        self, records: list[Append], producer: AIOKafkaProducer, renew: Renew
    ) -> None:
        """Each record (an event after its outbound job) alone, in order. The broker refuses
        a whole producer batch for one record in it, so this is how the record is found: one
        refused alone has its command dead-lettered, with a new producer (the refusal broke
        the old one's sequence numbers for that partition)."""
        for record in records:
            job = self.topics.job(record)
            pair = [job, record] if job is not None else [record]
            try:
                for item in pair:
                    await (await item.send(producer))
            except REFUSED as exc:
                if record.source is None:  # a dead letter refused: nothing smaller to write
                    raise
                producer = await renew()
                log.error(
                    "the broker refused an event of the command at offset %d: %s",
                    record.source.offset,
                    exc,
                )
                dead = self.topics.dead_letter(record.source, f"event refused: {exc!r}")
                await (await dead.send(producer))
                COMMANDS_PROJECTED.labels("deadletter").inc()
