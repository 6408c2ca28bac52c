"""`tidewire bench projector`: throughput and lag of the running projector.

Two phases against a running stack (`tidewire up`), each with companies of its own so neither
sees the other's events:

- throughput: N realistic `message.inbound` commands are appended to the commands topic as
  fast as the idempotent producer goes, spread over many companies and contacts (so many
  tickets); the rate is the number of their events over the time from the first to the last
  event appended to the events topic (Kafka record timestamps, set by the projector's
  producer). A second figure counts only the events appended after the pre-load finished: the
  backlog drain rate, with no producer competing for the CPU.
- lag: commands at a steady open-loop rate; per event, the time from the command's accepted_at
  to the event's append (record timestamp) and to the moment a reader saw it; plus the
  committed lag of the projector's consumer group, sampled twice a second (faust commits every
  2.8 s, so that figure is coarse by design).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tidewire_bench import load
from tidewire_bench.report import Latency, command_line, ms, rate, table
from tidewire_platform.contracts import Command, now_ms
from tidewire_platform.partitioning import company_key
from tidewire_platform.settings import StackSettings


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Stop a background reader and wait until it has."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass(frozen=True)
class Config:
    commands: int = 20_000
    companies: int = 200
    contacts: int = 20
    rate: int = 1_000
    seconds: float = 30.0
    stall_s: float = 30.0
    phases: tuple[str, ...] = ("throughput", "lag")

    def command(self) -> str:
        return command_line(["bench", "projector"], vars(self))


@dataclass(frozen=True)
class Seen:
    """One event of a benchmark command: appended (record timestamp), read, accepted (ms)."""

    appended: float
    read: float
    accepted: float


class EventsWatch:
    """Reads every events partition from its current end and keeps the events of the given
    companies, once per command id (a projector replay would append a duplicate)."""

    def __init__(self, s: StackSettings, companies: list[str]) -> None:
        self._s = s
        self._keys = {company_key(c) for c in companies}
        self.seen: dict[str, Seen] = {}
        self.duplicates = 0
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        tps = [TopicPartition(self._s.events_topic, p) for p in range(self._s.partitions)]
        self._consumer.assign(tps)
        for tp, end in (await self._consumer.end_offsets(tps)).items():
            self._consumer.seek(tp, end)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            read = time.time() * 1000
            for records in batches.values():
                for rec in records:
                    if rec.key not in self._keys or rec.value is None:
                        continue
                    data = json.loads(rec.value)
                    command_id = data["command_id"]
                    if command_id in self.seen:
                        self.duplicates += 1
                    else:
                        self.seen[command_id] = Seen(rec.timestamp, read, data["accepted_at"])

    async def until(self, expected: int, stall_s: float) -> None:
        """Return once `expected` events were seen, or none arrived for `stall_s`."""
        count, last_change = len(self.seen), time.monotonic()
        while len(self.seen) < expected and time.monotonic() - last_change < stall_s:
            await asyncio.sleep(0.2)
            if len(self.seen) != count:
                count, last_change = len(self.seen), time.monotonic()

    async def stop(self) -> None:
        await _cancel(self._task)
        await self._consumer.stop()


class GroupLag:
    """Committed lag of the projector's group on the commands topic, sampled periodically."""

    def __init__(self, s: StackSettings) -> None:
        self._s = s
        self._admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=None)
        self.samples: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._admin.start()
        await self._consumer.start()

    async def lag(self) -> int:
        tps = [TopicPartition(self._s.commands_topic, p) for p in range(self._s.partitions)]
        committed = await self._admin.list_consumer_group_offsets(
            self._s.projector_group, partitions=tps
        )
        ends = await self._consumer.end_offsets(tps)
        total = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            total += max(0, ends[tp] - done)
        return total

    def sample_every(self, interval_s: float) -> None:
        async def loop() -> None:
            while True:
                self.samples.append(await self.lag())
                await asyncio.sleep(interval_s)

        self._task = asyncio.create_task(loop())

    async def stop(self) -> None:
        await _cancel(self._task)
        await self._consumer.stop()
        await self._admin.close()


@dataclass
class Throughput:
    commands: int
    preload: load.Paced
    seen: dict[str, Seen]
    duplicates: int
    preload_end_ms: float

    def row(self, cfg: Config) -> list[object]:
        appended = sorted(x.appended for x in self.seen.values())
        span = (appended[-1] - appended[0]) / 1000 if len(appended) > 1 else 0.0
        after = [a for a in appended if a > self.preload_end_ms]
        drain = (after[-1] - self.preload_end_ms) / 1000 if after else 0.0
        return [
            f"{self.commands:,}",
            f"{cfg.companies} × {cfg.contacts}",
            f"{self.preload.seconds:.1f}",
            f"{len(appended):,}",
            f"{span:.1f}",
            rate(len(appended), span),
            rate(len(after), drain),
            self.duplicates,
        ]


THROUGHPUT_HEAD = [
    "commands",
    "companies × contacts",
    "pre-load s",
    "events",
    "first → last event s",
    "commands/s",
    "drain-only commands/s",
    "duplicates",
]

THROUGHPUT_NOTE = (
    "\n\ncommands/s = events ÷ (last − first event's Kafka record timestamp); drain-only counts"
    " the events appended after the pre-load finished, over the time since then."
)


@dataclass
class Lag:
    paced: load.Paced
    seen: dict[str, Seen]
    lag_before: int
    lag_samples: list[int] = field(default_factory=list)

    def row(self, cfg: Config) -> list[object]:
        appended = Latency.of([x.appended - x.accepted for x in self.seen.values()])
        read = Latency.of([x.read - x.accepted for x in self.seen.values()])
        return [
            f"{cfg.rate:,} × {cfg.seconds:g} s",
            rate(self.paced.sent, self.paced.seconds),
            f"{len(self.seen):,} / {self.paced.sent:,}",
            ms(appended.p50),
            ms(appended.p99),
            ms(appended.max),
            ms(read.p99),
            f"{self.lag_before:,} → {max(self.lag_samples, default=0):,}",
        ]


LAG_HEAD = [
    "open-loop rate",
    "sent/s",
    "events / sent",
    "accept→append p50 ms",
    "p99 ms",
    "max ms",
    "accept→read p99 ms",
    "group lag before → max (records)",
]

LAG_NOTE = (
    "\n\naccept→append: command's accepted_at to its event's record timestamp (the projector's"
    " append); accept→read: to the moment this bench's consumer read it. Group lag: committed"
    " offsets of the projector's group (faust commits every 2.8 s) behind the commands topic's end."
)


def _commands(cfg: Config, names: list[str], run: str, count: int) -> list[Command]:
    """`count` inbound commands, company i % companies, each company's contacts in turn."""
    return [
        load.inbound_command(names[i % cfg.companies], (i // cfg.companies) % cfg.contacts, run, i)
        for i in range(count)
    ]


async def _producer_and_watch(
    stack: contextlib.AsyncExitStack, s: StackSettings, names: list[str]
) -> tuple[AIOKafkaProducer, EventsWatch]:
    """A started command producer and a started watch of `names`' events, both stopped with
    `stack`."""
    producer = await load.started_producer(s, "tidewire-bench-projector")
    stack.push_async_callback(producer.stop)
    watch = EventsWatch(s, names)
    stack.push_async_callback(watch.stop)
    await watch.start()
    return producer, watch


async def throughput(s: StackSettings, cfg: Config) -> Throughput:
    run = load.run_id()
    names = load.companies("bpt", run, cfg.companies)
    # Built before the clock starts: the pre-load measures Kafka, not the command builder.
    commands = _commands(cfg, names, run, cfg.commands)
    async with contextlib.AsyncExitStack() as stack:
        producer, watch = await _producer_and_watch(stack, s, names)
        preload = await load.as_fast_as_possible(
            cfg.commands, lambda i: load.append_command(producer, s, commands[i])
        )
        end_ms = time.time() * 1000
        await watch.until(cfg.commands, cfg.stall_s)
    return Throughput(cfg.commands, preload, watch.seen, watch.duplicates, end_ms)


async def lag(s: StackSettings, cfg: Config) -> Lag:
    run = load.run_id()
    names = load.companies("bpl", run, cfg.companies)
    async with contextlib.AsyncExitStack() as stack:
        producer, watch = await _producer_and_watch(stack, s, names)
        group = GroupLag(s)
        stack.push_async_callback(group.stop)
        await group.start()
        before = await group.lag()
        group.sample_every(0.5)

        # Built before the clock, stamped when sent: parsing a webhook per command cost the
        # load generator ≈ 0.1 ms of the CPU the projector and Cassandra share with it.
        commands = _commands(cfg, names, run, int(cfg.rate * cfg.seconds))

        async def fire(i: int) -> None:
            command = commands[i].model_copy(update={"accepted_at": now_ms()})
            await load.append_command(producer, s, command)

        paced = await load.open_loop(cfg.rate, cfg.seconds, fire)
        await watch.until(paced.sent - paced.failed, cfg.stall_s)
    return Lag(paced, watch.seen, before, group.samples)


async def run(s: StackSettings, cfg: Config) -> str:
    """Run the chosen phases; returns the report (markdown)."""
    parts = [f"command: {cfg.command()}"]
    if "throughput" in cfg.phases:
        print(f"throughput: pre-loading {cfg.commands:,} commands …", flush=True)
        t = await throughput(s, cfg)
        parts.append(table(THROUGHPUT_HEAD, [t.row(cfg)]) + THROUGHPUT_NOTE)
        if not t.seen:
            parts.append(f"no events within {cfg.stall_s:g} s: is the projector running?")
    if "lag" in cfg.phases:
        print(f"lag: {cfg.rate:,} commands/s for {cfg.seconds:g} s …", flush=True)
        result = await lag(s, cfg)
        parts.append(table(LAG_HEAD, [result.row(cfg)]) + LAG_NOTE)
    return "\n\n".join(parts)
