"""EventFeed on librdkafka (confluent-kafka): the same feed as `feed_kafka.py`, read by C.

Why a second client: following the events topic, aiokafka's fetch machinery (pure Python)
cost 136-200 us of CPU per record, librdkafka 31-35 us, the same follower otherwise; in
fan-out that was a fifth to more than half of a node's CPU.

librdkafka's calls block, so one thread reads: it waits for a record (`poll` with a short
timeout), takes whatever else is already fetched (`consume(n, 0)`), and hands the batch to
the event loop (`call_soon_threadsafe`), where `RecordFeed` remembers and hands out each
record in order, as the aiokafka binding does. At most `_BATCHES_AHEAD` batches wait for
the loop: a slow loop makes the thread wait, not memory grow (librdkafka's own queue is
bounded by `queued.max.messages.kbytes` per partition). A batch that fails part way (a bug
of the feed's own: receivers' failures are isolated) is read again from its first record not
handed out, by a fresh consumer (`_rewind`), as the aiokafka binding seeks back.

The reading consumer is touched by its thread only: `incremental_assign` called from
another thread while the reader sat in `poll` hung both (confluent-kafka 2.16). The loop
passes it calls (`_on_reader`), which it runs between two polls: so a poll waits at most
`_POLL_S` for a record, not the whole fetch wait.

Partitions' bounds for recovering connects (`bounds`) are asked by a handle of their own
(`_offsets`), never assigned anything, so its calls may run on any thread at once.

A partition's offsets and backfill are read by a second handle (`_probe`) whose connection
never carries a held fetch (a connection carries one request at a time: on the reading
consumer's, they waited up to `fetch.wait.max.ms` behind the fetch the broker holds while no
record comes). Then a fresh consumer (a standby, started and warmed ahead) takes over every
followed partition from its next record to hand out, and the old one is closed with its held
fetch: `incremental_assign` on the reading consumer kept the others' fetched records, but
the new partition's first fetch waited for that held one, so its first live events came
≈ `fetch_wait_ms` late (measured: 495 ms, against 3 ms with the swap).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from tidewire_edge.feed_records import DECODED_BYTES, RECENT_BYTES, RecordFeed, lag_gauge
from tidewire_edge.recent import RecentRecords
from tidewire_platform.settings import StackSettings

log = logging.getLogger("tidewire.edge.feed")

T = TypeVar("T")

_BATCHES_AHEAD = 2  # batches read and not yet handed out, at most
_BATCH = 1000  # records taken per batch, at most
# How long the reading thread waits for a record before it runs the loop's calls (an
# adoption's switch) and looks at stop(): 40 empty polls a second; 10 ms doubled the CPU of
# an idle feed, for ≈ 9 ms off an idle adoption's median.
_POLL_S = 0.025
_QUEUED_KBYTES = 4096  # what librdkafka fetches ahead, per partition
_BACKFILL_S = 10.0  # the longest a backfill read may take before the adoption is retried
_BOUNDS_S = 10.0  # the longest a partition's bounds lookup may take
_BOUNDS_THREADS = 4  # bounds lookups at once, on threads of their own


class RdKafkaEventFeed(RecordFeed):
    """The feed on librdkafka (module docstring); what it does with the records it reads is
    `RecordFeed`'s."""

    def __init__(
        self,
        settings: StackSettings,
        epoch: str,
        recent_bytes: int = RECENT_BYTES,
        backfill: int = 5_000,
        decoded_bytes: int = DECODED_BYTES,
        yield_bytes: int = 1024**2,
        fetch_wait_ms: int = 500,
    ) -> None:
        super().__init__(epoch, recent_bytes, backfill, decoded_bytes, yield_bytes)
        self._settings = settings
        self._topic = settings.events_topic
        self._fetch_wait_ms = fetch_wait_ms
        self._consumer: Consumer | None = None  # reads; touched by the reading thread only
        self._probe: Consumer | None = None  # offsets, backfills, metadata; one call at a time
        self._probe_lock = asyncio.Lock()
        self._probe_work: asyncio.Future[Any] | None = None
        self._offsets: Consumer | None = None  # bounds lookups; assigned nothing, ever
        self._lookups: set[asyncio.Future[Any]] = set()  # bounds lookups on worker threads
        # Threads of their own: with Kafka slow, each lookup blocks one for up to _BOUNDS_S;
        # on the loop's default executor a round held every worker (probe, closes, DNS).
        self._lookup_threads: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._calls: queue.SimpleQueue[Callable[[Consumer], None]] = queue.SimpleQueue()
        self._room = threading.Semaphore(_BATCHES_AHEAD)
        self._loop: asyncio.AbstractEventLoop | None = None
        # (the reading consumer's generation when read, its records, its partitions' highs)
        self._batches: deque[tuple[int, list[Message], dict[int, int]]] = deque()
        self._generation = 0  # of the reading consumer: one more at each switch (its thread)
        self._read_again_below = 0  # batches of older generations are read again (a rewind)
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._adopting: dict[int, asyncio.Task[None]] = {}
        self._standby: asyncio.Task[Consumer] | None = None
        self._closing: set[asyncio.Task[None]] = set()  # replaced consumers being closed

    def _config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self._settings.kafka_bootstrap,
            # Never joined (partitions are assigned, not subscribed) and never committed:
            # librdkafka's consumer wants a group id all the same.
            "group.id": "tidewire-edge-feed",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # How long the broker holds a fetch while no record comes (a record ends it at
            # once: fetch.min.bytes is 1). Adoption never waits behind it (module docstring).
            "fetch.wait.max.ms": self._fetch_wait_ms,
            "fetch.min.bytes": 1,
            "queued.max.messages.kbytes": _QUEUED_KBYTES,
            # A position retention has deleted moves to the oldest record left, never to the
            # end (which skipped records unseen by the followers it released).
            "auto.offset.reset": "earliest",
        }

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._consumer = Consumer(self._config())
        # The probe fetches only a backfill, and the fetch librdkafka sends after the
        # backfill's records is held by the broker while none come: the next adoption's
        # offsets waited behind it (the whole 500 ms), so the probe's fetch is never held.
        self._probe = Consumer({**self._config(), "fetch.wait.max.ms": 1})
        self._offsets = Consumer(self._config())
        self._lookup_threads = ThreadPoolExecutor(_BOUNDS_THREADS, "edge-feed-bounds")
        self._prepare_standby()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._read, name="edge-feed-read", daemon=True)
        self._thread.start()
        self._task = asyncio.create_task(self._run(), name="edge-feed")

    async def stop(self) -> None:
        offsets, self._offsets = self._offsets, None  # no bounds lookup starts from now
        self._stopping.set()  # ends a backfill read and the reading thread
        for adopting in list(self._adopting.values()):
            adopting.cancel()
        await asyncio.gather(*self._adopting.values(), return_exceptions=True)
        if self._probe_work is not None:
            await asyncio.wait([self._probe_work])  # not cancelled: the thread runs on
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        if self._standby is not None:
            standby = (await asyncio.gather(self._standby, return_exceptions=True))[0]
            if isinstance(standby, Consumer):
                await asyncio.to_thread(standby.close)
        await asyncio.gather(*self._closing, return_exceptions=True)
        if self._lookups:
            await asyncio.wait(set(self._lookups))  # not cancelled: the threads run on
        for consumer in (self._consumer, self._probe, offsets):
            if consumer is not None:
                await asyncio.to_thread(consumer.close)
        self._consumer = self._probe = None
        if self._lookup_threads is not None:
            self._lookup_threads.shutdown(wait=False)  # its lookups ended above
            self._lookup_threads = None

    async def bounds(self, partitions: list[int]) -> dict[int, tuple[int, int]]:
        """(first retained offset, next offset to be written) of each partition, asked of
        the broker now (for `offset_lookups.OffsetLookups`, the events log's lookups)."""
        offsets = self._offsets
        if offsets is None:
            raise RuntimeError("the feed is not running")
        loop = asyncio.get_running_loop()
        calls = []
        for partition in partitions:
            tp = TopicPartition(self._topic, partition)
            call = loop.run_in_executor(
                self._lookup_threads, offsets.get_watermark_offsets, tp, _BOUNDS_S, False
            )
            self._lookups.add(call)
            call.add_done_callback(self._lookups.discard)
            calls.append(call)
        found = await asyncio.gather(*(asyncio.shield(c) for c in calls))
        return {p: (int(low), int(high)) for p, (low, high) in zip(partitions, found, strict=True)}

    async def _on_probe(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a worker thread, one at a time: the probe is used by one thread at
        a time, and stop() waits for the call before closing it."""
        async with self._probe_lock:
            if self._probe_work is not None:
                # A call whose caller gave up (a probe's timeout) may still run.
                await asyncio.wait([self._probe_work])
            self._probe_work = asyncio.get_running_loop().run_in_executor(None, fn, *args)
            return await asyncio.shield(self._probe_work)

    async def _on_reader(self, fn: Callable[[Consumer], T]) -> T:
        """`fn(consumer)` on the reading thread, between two polls (module docstring)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()

        def failed(exc: Exception) -> None:
            if not done.done():
                done.set_exception(exc)

        def succeeded(result: T) -> None:
            if not done.done():
                done.set_result(result)

        def call(consumer: Consumer) -> None:
            try:
                result = fn(consumer)
            except Exception as exc:
                loop.call_soon_threadsafe(failed, exc)
            else:
                loop.call_soon_threadsafe(succeeded, result)

        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the event feed's reading thread is not running")
        self._calls.put(call)
        return await done

    async def reachable(self, timeout_s: float = 3.0) -> bool:
        """Whether Kafka answers a metadata request (on the handle that never waits behind a
        held fetch), and the reading thread and loop still run."""
        if self._probe is None or self._task is None or self._task.done():
            return False
        if self._thread is None or not self._thread.is_alive():
            return False
        try:
            await asyncio.wait_for(
                self._on_probe(self._probe.list_topics, self._topic, timeout_s), timeout_s
            )
        except (KafkaException, TimeoutError):
            return False
        return True

    async def follow(self, partition: int, timeout_s: float) -> None:
        """Return once `partition` is read up to its end at the time of the first call (from
        up to `backfill` records before it, kept in memory); TimeoutError if Kafka does not
        let that happen within `timeout_s` (the adoption goes on for a later follow)."""
        if partition in self._next and partition not in self._filling:
            return
        fut = self._pending.get(partition)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._pending[partition] = fut
            if partition not in self._next and partition not in self._adopting:
                self._adopting[partition] = asyncio.create_task(
                    self._adopt(partition), name=f"edge-feed-adopt-{partition}"
                )
        await asyncio.wait_for(asyncio.shield(fut), timeout_s)

    async def _adopt(self, partition: int) -> None:
        """Read `partition`'s last `backfill` records into memory with the probe, then add it
        to the reading consumer's assignment from where the probe stopped; retried until it
        holds (the follows waiting time out meanwhile)."""
        try:
            while True:
                try:
                    await self._adopt_once(partition)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:  # a follow later finds it adopted; none is left waiting
                    log.warning("cannot follow partition %s yet", partition, exc_info=True)
                    self._forget(partition)
                    await asyncio.sleep(0.5)
        finally:
            self._adopting.pop(partition, None)
        self._release_settled()

    async def _adopt_once(self, partition: int) -> None:
        assert self._probe is not None
        tp = TopicPartition(self._topic, partition)
        low, high = await self._on_probe(self._probe.get_watermark_offsets, tp, 10.0, False)
        start = max(low, high - self._backfill)
        records: list[tuple[int, bytes, bytes]] = []
        reached = start
        if start < high:
            records, reached = await self._on_probe(self._read_backfill, partition, start, high)
        ring = RecentRecords(self._recent_bytes)
        for offset, key, value in records:
            ring.append(offset, key, value)
        # Known before the reading consumer may return a record of it; the follows wait on
        # `_filling` until it is assigned.
        self._recent[partition] = ring
        self._next[partition] = reached
        self._filling[partition] = reached
        await self._switch_to(await self._fresh_consumer())
        del self._filling[partition]

    async def _switch_to(self, fresh: Consumer) -> int:
        """`fresh` reads from now on (`_switch`, on the reading thread); the next standby is
        warmed and the replaced consumer closed in the background."""
        try:
            old, generation = await self._on_reader(lambda _: self._switch(fresh))
        except BaseException:
            await asyncio.to_thread(fresh.close)
            raise
        self._prepare_standby()
        closing = asyncio.create_task(asyncio.to_thread(old.close))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        return generation

    def _switch(self, fresh: Consumer) -> tuple[Consumer, int]:
        """On the reading thread: `fresh` takes over every partition followed, from its next
        offset to hand out as of now; returns the consumer it replaces. Records the old one
        read that the loop has not handed out yet are read again and skipped by offset."""
        fresh.assign([TopicPartition(self._topic, p, o) for p, o in dict(self._next).items()])
        old, self._consumer = self._consumer, fresh
        assert old is not None
        self._generation += 1
        return old, self._generation

    def _warm_consumer(self) -> Consumer:
        """A reading consumer connected, with the events topic's metadata (its first fetch
        goes out at once), assigned nothing."""
        consumer = Consumer(self._config())
        try:
            consumer.list_topics(self._topic, 10.0)
        except BaseException:
            consumer.close()
            raise
        return consumer

    def _prepare_standby(self) -> None:
        """Warm the consumer the next adoption takes (one: adoptions at once share it)."""
        if self._standby is None:
            self._standby = asyncio.create_task(asyncio.to_thread(self._warm_consumer))

    async def _fresh_consumer(self) -> Consumer:
        standby, self._standby = self._standby, None
        if standby is not None:
            try:
                return await standby
            except Exception:
                log.warning("event feed's standby consumer failed; starting one", exc_info=True)
        return await asyncio.to_thread(self._warm_consumer)

    def _read_backfill(
        self, partition: int, start: int, end: int
    ) -> tuple[list[tuple[int, bytes, bytes]], int]:
        """The records of `partition` in [start, end) and the offset after them, read by the
        probe (a worker thread: it blocks)."""
        probe = self._probe
        assert probe is not None
        tp = TopicPartition(self._topic, partition)
        probe.assign([TopicPartition(self._topic, partition, start)])
        try:
            records: list[tuple[int, bytes, bytes]] = []
            reached = start
            deadline = time.monotonic() + _BACKFILL_S
            while reached < end:
                if self._stopping.is_set() or time.monotonic() > deadline:
                    raise TimeoutError(f"backfill of partition {partition} not read in time")
                # consume() waits for a whole batch or its timeout: poll() for the first.
                first = probe.poll(0.2)
                for msg in [] if first is None else [first, *probe.consume(_BATCH - 1, 0)]:
                    offset = msg.offset()
                    if msg.error() is not None or offset is None or offset >= end:
                        continue
                    records.append((offset, msg.key() or b"", msg.value() or b""))
                    reached = offset + 1
                # The position also steps over offsets that hold no record.
                reached = max(reached, min(end, probe.position([tp])[0].offset))
            return records, reached
        finally:
            probe.unassign()

    def _forget(self, partition: int) -> None:
        self._next.pop(partition, None)
        self._recent.pop(partition, None)
        self._filling.pop(partition, None)

    def _read(self) -> None:
        """The reading thread: batches of records, in the order librdkafka returns them, to
        the loop with each batch's partitions' high watermarks; the loop's calls between."""
        loop = self._loop
        assert loop is not None
        while not self._stopping.is_set():
            consumer = self._consumer
            assert consumer is not None
            while True:
                try:
                    self._calls.get_nowait()(consumer)
                except queue.Empty:
                    break
            consumer = self._consumer  # an adoption replaces it (`_switch`)
            generation = self._generation
            assert consumer is not None
            if not self._room.acquire(timeout=_POLL_S):
                continue
            try:
                first = consumer.poll(_POLL_S)
                if first is None:
                    self._room.release()
                    continue
                batch = [first, *consumer.consume(_BATCH - 1, 0)]
                highs = {}
                for partition in {msg.partition() for msg in batch}:
                    if partition is not None:
                        tp = TopicPartition(self._topic, partition)
                        highs[partition] = consumer.get_watermark_offsets(tp, cached=True)[1]
            except Exception:  # librdkafka retries by itself; keep reading
                log.exception("event feed cannot read")
                self._room.release()
                self._stopping.wait(0.5)
                continue
            loop.call_soon_threadsafe(self._arrive, generation, batch, highs)

    def _arrive(self, generation: int, batch: list[Message], highs: dict[int, int]) -> None:
        self._batches.append((generation, batch, highs))
        self._arrived.set()

    async def _run(self) -> None:
        """The loop's side: hand out each batch the thread read, in order."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._batches:
                generation, batch, highs = self._batches.popleft()
                if generation < self._read_again_below:
                    self._room.release()  # read before a rewind: read again since
                    continue
                try:
                    await self._hand_batch(batch, highs)
                except asyncio.CancelledError:
                    raise
                except Exception:  # keep the node alive; read the rest again
                    log.exception("event feed failed to hand out a batch")
                    self._room.release()
                    await self._rewind()
                else:
                    self._room.release()

    async def _rewind(self) -> None:
        """After a batch failed part way: read every followed partition again from its first
        record not handed out. The records after it in that batch, and in the batches read
        since, were never handed out; handing out the later ones would have left a hole in
        every socket's stream and in the recent memory. Records before `_next` were handed
        out and remembered in full, so none is offered twice. The rewind is a switch to a
        fresh consumer assigned from `_next` (as an adoption does): a seek on the reading
        consumer fails while a partition's fetch is not yet started."""
        while True:
            try:
                fresh = await self._fresh_consumer()
                # Every batch read before the switch (the rest of the failed one's consumer's,
                # whenever it arrives) is skipped; the fresh consumer's are handed out, even
                # one that arrived before this task resumed.
                self._read_again_below = await self._switch_to(fresh)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # Kafka away, or the switch failed: try again, never end
                log.exception("event feed cannot switch to a consumer to read again from")
                await asyncio.sleep(0.5)

    async def _hand_batch(self, batch: list[Message], highs: dict[int, int]) -> None:
        handed = 0
        for msg in batch:
            if msg.error() is not None:
                log.warning("event feed read an error: %s", msg.error())
                continue
            partition, offset = msg.partition(), msg.offset()
            if partition is None or offset is None:
                continue
            expected = self._next.get(partition)
            if expected is None or offset < expected:
                continue  # not followed, or read already
            handed += self._take(partition, offset, msg.key() or b"", msg.value() or b"")
            if handed >= self._yield_bytes:
                # `_next` already names the next record: a delivery registered meanwhile
                # gets the rest of the batch live, nothing twice.
                handed = 0
                await asyncio.sleep(0)
        self._remembered_bytes()
        for partition, high in highs.items():
            if high >= 0 and partition in self._next:
                lag_gauge(partition).set(high - self._next[partition])
