"""`tidewire projector rebuild`: fold the whole commands log into fresh read-model tables.

The new tables live in a new keyspace, created with the live tables' own definitions (read from
the cluster's schema, so the two can never drift). The old read models keep answering queries
during the rebuild; once every partition is folded up to the end it had when the rebuild began,
the active-keyspace pointer flips and readers follow it. No event is emitted: the events log
already has them.

The live projector must be stopped first (its consumer group must be empty): two writers
folding the same company at once would race. Commands accepted meanwhile wait in Kafka and are
projected when the projector starts again, into the new tables.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from cassandra.cluster import Session

from tidewire_platform.aio import execute
from tidewire_platform.contracts import Command
from tidewire_platform.read_models_home import active_keyspace, switch_to
from tidewire_platform.settings import StackSettings
from tidewire_projector.domain import PoisonCommand, decide
from tidewire_projector.store_cassandra import CassandraStore, ensure_tables
from tidewire_projector.store_memory import MemoryStore

GROUP = "tidewire-projector"


class RebuildRefused(RuntimeError):
    """The rebuild cannot run now (the reason is for the operator)."""


@dataclass(frozen=True)
class Rebuilt:
    keyspace: str
    previous: str
    commands: int
    skipped: int  # poison commands (already dead-lettered by the live projector)
    seconds: float


async def projector_stopped(settings: StackSettings) -> bool:
    """True when the projector's consumer group has no members."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([GROUP])
        # DescribeGroups rows: (error, group, state, protocol_type, protocol, members, ...)
        return all(g[2] in ("Empty", "Dead") or not g[5] for g in described.groups)
    finally:
        await admin.close()


async def _create_tables(session: Session, source: str, target: str, replication: str) -> None:
    await execute(
        session, f"CREATE KEYSPACE IF NOT EXISTS {target} WITH replication = {replication}"
    )
    await ensure_tables(session, source, target)


async def rebuild(
    settings: StackSettings,
    session: Session,
    say: Callable[[str], None] = print,
    keep_previous: bool = False,
) -> Rebuilt:
    if not await projector_stopped(settings):
        raise RebuildRefused(
            "the projector is running (consumer group tidewire-projector has members): "
            "stop it first; commands keep waiting in Kafka meanwhile"
        )
    main = settings.cassandra_keyspace
    previous = await active_keyspace(session, main)
    target = f"{main}_rm_{time.strftime('%Y%m%d%H%M%S')}"
    # The main keyspace has every migration; an earlier rebuild's may predate some.
    await _create_tables(session, main, target, settings.cassandra_replication)
    say(f"rebuild: folding {settings.commands_topic} into keyspace {target}")
    started = time.monotonic()
    folded = await _fold_log(settings)
    say(
        f"rebuild: folded {folded.applied} commands in {time.monotonic() - started:.1f} s; "
        "writing the read models"
    )
    await CassandraStore(session, target).write_all(folded.state, folded.journal)
    await switch_to(session, main, target)
    if previous != main and not keep_previous:
        # An earlier rebuild's keyspace: nothing reads it any more.
        await asyncio.to_thread(session.execute, f"DROP KEYSPACE IF EXISTS {previous}", timeout=120)
    seconds = time.monotonic() - started
    say(f"rebuild: done in {seconds:.1f} s, read models switched to {target}")
    return Rebuilt(target, previous, folded.applied, folded.skipped, seconds)


@dataclass
class _Folded:
    state: MemoryStore = field(default_factory=MemoryStore)
    journal: dict[tuple[str, str], int] = field(default_factory=dict)  # -> position
    applied: int = 0
    skipped: int = 0


async def _fold_log(settings: StackSettings) -> _Folded:
    """Fold every command below the end each partition had at the start, in memory.

    The same rules as the live projector, but reads hit memory, and only final documents are
    written afterwards: a rebuild costs one write per document instead of several round trips
    per command. Each partition is folded in log order (a company lives in one partition).
    """
    folded = _Folded()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        tps = [TopicPartition(settings.commands_topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        pending = {tp for tp in tps if ends[tp] > starts[tp]}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        pending.discard(tp)
                        break
                    await _fold_one(folded, record.value or b"", record.offset)
                    if record.offset + 1 >= ends[tp]:
                        pending.discard(tp)
    finally:
        await consumer.stop()
    return folded


async def _fold_one(folded: _Folded, raw: bytes, position: int) -> None:
    try:
        command = Command.from_bytes(raw)
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
