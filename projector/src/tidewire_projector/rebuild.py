"""`tidewire projector rebuild`: fold the whole commands log into fresh read-model tables.

The new tables live in a new keyspace, created with the live tables' own definitions (read from
the cluster's schema, so the two can never drift). The old read models keep answering queries
during the rebuild; no event is emitted (the events log already has them).

The live projector may keep running: two writers folding the same company at once would race,
so the handover is short and explicit.
1. Online: every partition is folded up to the end it had when the rebuild began, and the
   documents are written to the new keyspace (the long part); the projector goes on meanwhile.
2. Handover: the projector is paused (stopped by whoever runs it: `ProjectorPause`), the rest
   of the log is folded, and its documents written. The command journal gets whole outcomes
   for every command from the projector's committed offset on, stamped with the command's own
   append time: when the projector resumes there, it re-applies those outcomes and appends only
   the events the log does not hold yet, exactly as after a crash.
3. The active-keyspace pointer flips, the projector resumes and readers follow.
Without a way to pause a running projector, the rebuild is refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    GroupCoordinatorNotAvailableError,
    NotCoordinatorError,
)
from cassandra.cluster import Session

from tidewire_platform.aio import execute
from tidewire_platform.contracts import Command
from tidewire_platform.read_models_home import active_keyspace, switch_to
from tidewire_platform.settings import StackSettings
from tidewire_projector.domain import decide
from tidewire_projector.journal_cassandra import Unit, outcome_ttl
from tidewire_projector.outcome import PoisonCommand
from tidewire_projector.store_cassandra import CassandraStore, ensure_tables
from tidewire_projector.store_memory import MemoryStore

_COORDINATOR_WAIT_S = 60.0
T = TypeVar("T")


class RebuildRefused(RuntimeError):
    """The rebuild cannot run now (the reason is for the operator)."""


class ProjectorPause(Protocol):
    """Stops the live projector for the handover and starts it again afterwards."""

    async def stop(self) -> None: ...

    async def resume(self) -> None: ...


@dataclass(frozen=True)
class Rebuilt:
    keyspace: str
    previous: str
    commands: int
    skipped: int  # poison commands (already dead-lettered by the live projector)
    seconds: float
    paused_s: float  # how long the live projector was stopped (0 when it was not running)


async def _group(settings: StackSettings) -> tuple[str, int]:
    """The projector group's state ("Stable", "Empty", "PreparingRebalance" …) and members."""

    async def ask(admin: AIOKafkaAdminClient) -> tuple[str, int]:
        [described] = await admin.describe_consumer_groups([settings.projector_group])
        # DescribeGroups rows: (error, group, state, protocol_type, protocol, members, ...)
        [row] = described.groups
        return str(row[2]), len(row[5])

    return await _with_coordinator(settings, ask)


async def _with_coordinator(
    settings: StackSettings, ask: Callable[[AIOKafkaAdminClient], Awaitable[T]]
) -> T:
    """`ask` the group's coordinator, waiting for one: a broker that just started has none
    until its offsets topic is ready (a rebuild run right after `tidewire up`)."""
    deadline = time.monotonic() + _COORDINATOR_WAIT_S
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            return await ask(admin)
        except (
            GroupCoordinatorNotAvailableError,
            CoordinatorLoadInProgressError,
            NotCoordinatorError,
        ):
            if time.monotonic() > deadline:
                raise
        finally:
            await admin.close()
        await asyncio.sleep(0.5)


async def projector_stopped(settings: StackSettings) -> bool:
    """True when the projector's consumer group has no members."""
    return _empty(*await _group(settings))


async def _create_tables(session: Session, source: str, target: str, replication: str) -> None:
    await execute(
        session, f"CREATE KEYSPACE IF NOT EXISTS {target} WITH replication = {replication}"
    )
    await ensure_tables(session, source, target)


async def committed_offsets(settings: StackSettings) -> dict[int, int]:
    """The projector group's next offset to read per partition (absent: never committed, so
    the projector would start from the beginning)."""

    async def ask(admin: AIOKafkaAdminClient) -> dict[int, int]:
        offsets = await admin.list_consumer_group_offsets(settings.projector_group)
        return {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == settings.commands_topic and meta.offset >= 0
        }

    return await _with_coordinator(settings, ask)


async def _until_group(
    settings: StackSettings,
    ready: Callable[[str, int], bool],
    what: str,
    timeout_s: float,
    strict: bool = True,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready(*(state := await _group(settings))):
        if time.monotonic() > deadline:
            if not strict:
                return
            raise RebuildRefused(
                f"the projector's consumer group did not {what} in {timeout_s} s "
                f"(state {state[0]}, {state[1]} member(s))"
            )
        await asyncio.sleep(0.5)


def _joined(state: str, members: int) -> bool:
    return state == "Stable" and members > 0


def _empty(state: str, members: int) -> bool:
    return state in ("Empty", "Dead") or members == 0


async def rebuild(
    settings: StackSettings,
    session: Session,
    say: Callable[[str], None] = print,
    keep_previous: bool = False,
    pause: ProjectorPause | None = None,
) -> Rebuilt:
    if not await projector_stopped(settings) and pause is None:
        raise RebuildRefused(
            f"the projector is running (consumer group {settings.projector_group} has members) "
            "and was not started by tidewire here: stop it first; commands keep waiting in Kafka"
        )
    main = settings.cassandra_keyspace
    previous = await active_keyspace(session, main)
    target = f"{main}_rm_{time.strftime('%Y%m%d%H%M%S')}"
    # The main keyspace has every migration; an earlier rebuild's may predate some.
    await _create_tables(session, main, target, settings.cassandra_replication)
    say(f"rebuild: folding {settings.commands_topic} into keyspace {target}")
    started = time.monotonic()
    store = CassandraStore(session, target, outcome_ttl(settings.events_retention_ms))
    async with _LogReader(settings) as log:
        # Outcomes are kept from the committed offsets on: the projector may re-read those.
        folded = _Folded(keep_from=await committed_offsets(settings))
        await log.fold_until(folded, await log.ends())
        say(
            f"rebuild: folded {folded.applied} commands in {time.monotonic() - started:.1f} s; "
            "writing the read models"
        )
        await store.write_all(folded.state, folded.journal)
        paused_at = 0.0
        if pause is not None:
            # A projector stopped while it still joins its group never leaves it, and the
            # broker then waits out its session (60 s) before the group is empty: let a
            # projector that is starting join first (it may also have crashed: then go on).
            await _until_group(settings, _joined, "settle", 60, strict=False)
            paused_at = time.monotonic()
            say("rebuild: pausing the projector for the handover")
        try:
            if pause is not None:
                await pause.stop()  # inside: a stop that fails half-way still resumes
            await _until_group(settings, _empty, "empty", 90)
            committed = await committed_offsets(settings)
            tail_from = folded.applied
            await log.fold_until(folded, await log.ends())
            # Whole outcomes from the committed offsets on (see the module docstring); the
            # tail's are written with its documents.
            replayable = [u for u, p in folded.kept if u.position >= committed.get(p, 0)]
            await store.journal.write(replayable)
            await store.flush(folded.tail)
            await switch_to(session, main, target)
            say(
                f"rebuild: handed over after {folded.applied - tail_from} more commands; "
                f"read models switched to {target}"
            )
        finally:
            if pause is not None:
                await pause.resume()
        paused_s = time.monotonic() - paused_at if pause is not None else 0.0
    if previous != main and not keep_previous:
        # An earlier rebuild's keyspace: nothing reads it any more.
        await asyncio.to_thread(session.execute, f"DROP KEYSPACE IF EXISTS {previous}", timeout=120)
    seconds = time.monotonic() - started
    say(f"rebuild: done in {seconds:.1f} s, read models switched to {target}")
    return Rebuilt(target, previous, folded.applied, folded.skipped, seconds, paused_s)


@dataclass
class _Folded:
    keep_from: dict[int, int]  # partition -> first offset whose outcome is kept
    state: MemoryStore = field(default_factory=MemoryStore)
    journal: dict[tuple[str, str], int] = field(default_factory=dict)  # -> position
    kept: list[tuple[Unit, int]] = field(default_factory=list)  # (outcome, partition)
    tail: list[Unit] = field(default_factory=list)  # folded after the documents were written
    in_tail: bool = False
    applied: int = 0
    skipped: int = 0


class _LogReader:
    """The commands log, read from the beginning in per-partition order, in steps."""

    def __init__(self, settings: StackSettings) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None
        )
        self._tps = [TopicPartition(settings.commands_topic, p) for p in range(settings.partitions)]
        self._next: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> _LogReader:
        await self._consumer.start()
        self._consumer.assign(self._tps)
        starts = await self._consumer.beginning_offsets(self._tps)
        for tp in self._tps:
            self._consumer.seek(tp, starts[tp])
            self._next[tp] = starts[tp]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def ends(self) -> dict[TopicPartition, int]:
        return await self._consumer.end_offsets(self._tps)  # type: ignore[no-any-return]

    async def fold_until(self, folded: _Folded, ends: dict[TopicPartition, int]) -> None:
        """Fold every command below `ends` not folded yet, in memory.

        The same rules as the live projector, but reads hit memory, and only final documents
        are written afterwards: one write per document instead of several round trips per
        command. Each partition is folded in log order (a company lives in one partition)."""
        pending = {tp for tp in self._tps if ends[tp] > self._next[tp]}
        for tp in pending:
            # The previous step's last fetch may have read past its ends (records that
            # arrived meanwhile) and moved the position beyond them: they were not folded.
            self._consumer.seek(tp, self._next[tp])
        while pending:
            batch = await self._consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        pending.discard(tp)
                        break
                    await _fold_one(folded, tp.partition, record)
                    self._next[tp] = record.offset + 1
                    if record.offset + 1 >= ends[tp]:
                        pending.discard(tp)
            for tp in list(pending):  # offsets may have gaps below the end
                if await self._consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        folded.in_tail = True  # whatever comes next is folded after the documents were written


async def _fold_one(folded: _Folded, partition: int, record: Any) -> None:
    position = record.offset
    try:
        command = Command.from_bytes(record.value or b"")
        key = (command.company_id, command.id)
        if key in folded.journal:
            return  # the same command accepted twice: applied the first time
        outcome = await decide(command, position, folded.state)
    except (PoisonCommand, ValueError):
        folded.skipped += 1  # dead-lettered by the live projector already
        return
    await folded.state.apply(outcome)
    folded.journal[key] = position
    folded.applied += 1
    # The command's append time: the projector applied it, and appended its events, later.
    unit = Unit(outcome, command.id, position, recorded_at=record.timestamp)
    if folded.in_tail:
        folded.tail.append(unit)  # written whole, journal included, by the handover
    elif position >= folded.keep_from.get(partition, 0):
        folded.kept.append((unit, partition))
