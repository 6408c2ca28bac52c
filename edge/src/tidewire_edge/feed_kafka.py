"""EventFeed on Kafka: the events partitions this node follows, read without a consumer group.

Each node keeps its own position per partition (no group, no rebalance): nodes never steal
work from each other, and a partition is read only by nodes that have clients of a company
hashed to it. Records are handed to the deliveries of their company synchronously, so
`register` can name the exact offset from which a new delivery receives live events.

Idle, a node costs (itself and the broker) one fetch per `fetch_wait_ms`: the broker holds a
fetch that finds no record that long, and answers as soon as one comes, so a long wait costs
no latency. But a connection carries one request at a time, and a held fetch delays whatever
is sent behind it, up to the whole wait: so following a new partition (its offsets, the new
assignment's first fetch) is done on a fresh consumer, which then takes over every followed
partition from the next record to hand out, and the old one is closed with its held fetch.
The fresh consumer is started ahead of time (a standby, assigned nothing, so fetching
nothing), as starting one took about half of an adoption's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from cachetools import LRUCache

from tidewire_edge.feed import Receiver, Receivers, hand_out
from tidewire_edge.recent import RecentRecords
from tidewire_edge.sizes import event_bytes
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.metrics import EDGE_LAG, EDGE_MEMORY
from tidewire_platform.partitioning import company_key
from tidewire_platform.settings import StackSettings

log = logging.getLogger("tidewire.edge.feed")

_RECENT_BYTES = 24 * 1024**2  # per partition (EdgeSettings.recent_budget gives the node's)
_DECODED_BYTES = 48 * 1024**2  # decoded events kept (EdgeSettings.decoded_budget)


@functools.cache
def _lag(partition: int) -> Any:
    """The lag gauge of one partition (a label lookup costs more than the update)."""
    return EDGE_LAG.labels(str(partition))


@functools.cache
def _memory(kind: str) -> Any:
    return EDGE_MEMORY.labels(kind)


def _size_of(decoded: tuple[Event, int]) -> int:
    return decoded[1]


class KafkaEventFeed:
    def __init__(
        self,
        settings: StackSettings,
        epoch: str,
        recent_bytes: int = _RECENT_BYTES,
        backfill: int = 5_000,
        decoded_bytes: int = _DECODED_BYTES,
        yield_bytes: int = 1024**2,
        fetch_wait_ms: int = 500,
    ) -> None:
        self._settings = settings
        self._fetch_wait_ms = fetch_wait_ms
        self._epoch = epoch
        # The last records of each partition (up to `recent_bytes` each), so the replay after
        # a short drop is served from memory instead of a Kafka read per client.
        self._recent_bytes = recent_bytes
        self._recent: dict[int, RecentRecords] = {}
        # A partition is first read from up to `backfill` records before its end, so that a
        # node that just started (a restart, a new pod) serves the replays of the clients
        # that move to it from memory too, instead of one Kafka read per client (as many of
        # them as the byte budget keeps).
        self._backfill = backfill
        # Deliveries take their queued events only when the feed lets them run: it does so
        # after queueing this many bytes of events (as the receivers measure them), or a
        # fetch of large events would fill a healthy socket's byte budget at once and cut it
        # off. Events written to sockets at once hold nothing and count for nothing.
        self._yield_bytes = yield_bytes
        self._filling: dict[int, int] = {}  # partition -> end offset memory must reach first
        self._consumer: AIOKafkaConsumer | None = None
        self._next: dict[int, int] = {}  # partition -> next offset to hand out
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._receivers = Receivers()
        self._task: asyncio.Task[None] | None = None
        self._standby: asyncio.Task[AIOKafkaConsumer] | None = None
        self._closing: set[asyncio.Task[None]] = set()  # previous consumers being closed
        # Set by a follow() that needs a partition adopted, which also cancels the reading
        # loop's wait for records (`_waiting`), instead of the loop waking on a timer to look.
        self._wake = asyncio.Event()
        self._waiting: asyncio.Future[dict[TopicPartition, list[Any]]] | None = None
        # Events decoded lately, by (partition, offset): a company's clients reconnecting
        # together replay the same events, and decoding each for every client was ≈ 6 % of a
        # node's CPU in a recovery storm. Bounded by the bytes the events hold (sizes.py).
        # Each with its size, which the byte budgets of ack-mode sockets need again.
        self._decoded: LRUCache[tuple[int, int], tuple[Event, int]] = LRUCache(
            maxsize=decoded_bytes, getsizeof=_size_of
        )

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            # How long the broker holds a fetch while no record comes (a record ends it at
            # once: fetch_min_bytes is 1). Adoption never waits behind it (module docstring).
            fetch_max_wait_ms=self._fetch_wait_ms,
            # A position retention has deleted (a backfill start, a node far behind) moves to
            # the oldest record left, never to the end: "latest" skipped every record in
            # between, unseen by the followers it then released.
            auto_offset_reset="earliest",
        )

    async def _started_consumer(self) -> AIOKafkaConsumer:
        """A consumer started and connected to the events topic's leader, assigned nothing:
        an adoption's requests on it go out at once."""
        consumer = self._new_consumer()
        try:
            await consumer.start()
            await consumer.end_offsets([TopicPartition(self._settings.events_topic, 0)])
        except BaseException:  # cancelled by stop() too
            await consumer.stop()
            raise
        return consumer

    def _prepare_standby(self) -> None:
        """Start the consumer the next adoption takes, ahead of time (it costs a connection
        and no fetch; starting one took about half of an adoption's time)."""
        self._standby = asyncio.create_task(self._started_consumer(), name="edge-feed-standby")

    async def _fresh_consumer(self) -> AIOKafkaConsumer:
        """The standby, or a consumer started now when there is none or it failed."""
        standby, self._standby = self._standby, None
        if standby is not None:
            try:
                return await standby
            except Exception:
                log.warning("event feed's standby consumer failed; starting one", exc_info=True)
        return await self._started_consumer()

    async def start(self) -> None:
        # Following nothing yet: this one answers the readiness probe until an adoption.
        self._consumer = self._new_consumer()
        await self._consumer.start()
        self._prepare_standby()
        self._task = asyncio.create_task(self._run(), name="edge-feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._standby is not None:
            self._standby.cancel()
            standby = (await asyncio.gather(self._standby, return_exceptions=True))[0]
            if not isinstance(standby, BaseException):
                await standby.stop()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()

    async def _close(self, old: AIOKafkaConsumer) -> None:
        try:
            await old.stop()
        except Exception:  # the adoption stands; only its connections may linger
            log.exception("event feed cannot close its previous consumer")

    async def reachable(self, timeout_s: float = 3.0) -> bool:
        """Whether Kafka answers a metadata request, and the reading loop still runs."""
        if self._consumer is None or self._task is None or self._task.done():
            return False
        probed = self._consumer
        try:
            await asyncio.wait_for(probed._client.fetch_all_metadata(), timeout_s)
        except (KafkaError, OSError, TimeoutError):
            if self._consumer is probed:
                return False
            # An adoption closed the consumer asked meanwhile: ask the one reading now.
            return await self.reachable(timeout_s)
        return True

    async def follow(self, partition: int, timeout_s: float) -> None:
        """Return once `partition` is read up to its end at the time of the first call (from
        up to `backfill` records before it, kept in memory); TimeoutError if Kafka does not
        let that happen within `timeout_s` (the connect waiting on it is refused with a
        reason, instead of hanging: socket.io-client has no connect timeout of its own)."""
        if partition in self._next and partition not in self._filling:
            return
        fut = self._pending.get(partition)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._pending[partition] = fut
            self._wake.set()
            if self._waiting is not None:
                self._waiting.cancel()
        await asyncio.wait_for(asyncio.shield(fut), timeout_s)

    def register(self, company_id: str, partition: int, receiver: Receiver) -> int:
        """Hand `receiver` every event of the company from the returned offset on (the
        partition must be followed). Earlier events are the receiver's to replay."""
        self._receivers.add(company_id, receiver)
        return self._next[partition]

    def unregister(self, company_id: str, receiver: Receiver) -> None:
        self._receivers.discard(company_id, receiver)

    def covers(self, partition: int, offset: int) -> bool:
        """Whether memory holds every record of `partition` from `offset` to the end read."""
        ring = self._recent.get(partition)
        if ring is None:
            return False
        next_offset = self._next[partition]
        first = ring.first()
        return (next_offset if first is None else first) <= offset <= next_offset

    def recent(
        self, company_id: str, partition: int, after: int, until: int
    ) -> Iterator[tuple[Event, int]] | None:
        """The company's events (with their sizes in memory, sizes.py) with
        after < offset < until from memory, or None when the
        memory does not reach back that far (read the log then). Decoded one at a time as
        the replay takes them: a socket replaying holds one decoded event, not all of them
        (a thousand sockets replaying held a thousand copies of the memory, decoded)."""
        if after + 1 >= until:
            return iter(())
        if not self.covers(partition, after + 1) or until > self._next[partition]:
            return None
        found = self._recent[partition].between(company_key(company_id), after, until)
        return self._decoding(partition, found)

    def _decoding(
        self, partition: int, found: list[tuple[int, bytes]]
    ) -> Iterator[tuple[Event, int]]:
        for offset, value in found:
            try:
                yield self._decode(partition, offset, value)
            except ValueError:  # skipped like on the live path; raising failed every replay
                log.error("undecodable event at %s:%s", partition, offset)

    def _decode(self, partition: int, offset: int, value: bytes) -> tuple[Event, int]:
        """The event of a record and its size, decoded once for all the node's sockets
        (raises ValueError for a record that is not an event)."""
        found = self._decoded.get((partition, offset))
        if found is None:
            event = Event.from_bytes(value, Cursor(self._epoch, partition, offset).encode())
            found = (event, event_bytes(event))
            # One larger than the whole cache is not kept: decoded again when asked again.
            with contextlib.suppress(ValueError):
                self._decoded[(partition, offset)] = found
            _memory("decoded").set(self._decoded.currsize)
        return found

    async def _adopt_pending(self) -> None:
        """Follow the partitions asked for, on a fresh consumer that takes over the others
        too (module docstring). The feed's state changes only once the new consumer is
        positioned: a failure leaves the adoption to the next iteration, whole."""
        new = [p for p in self._pending if p not in self._next]
        consumer = await self._fresh_consumer()
        try:
            tps = [TopicPartition(self._settings.events_topic, p) for p in new]
            ends, firsts = await asyncio.gather(
                consumer.end_offsets(tps), consumer.beginning_offsets(tps)
            )
            starts = {tp.partition: max(firsts[tp], ends[tp] - self._backfill) for tp in tps}
            positions = {**self._next, **starts}
            consumer.assign([TopicPartition(self._settings.events_topic, p) for p in positions])
            for tp in consumer.assignment():
                consumer.seek(tp, positions[tp.partition])
        except BaseException:
            await consumer.stop()
            raise
        old, self._consumer = self._consumer, consumer
        self._prepare_standby()
        for tp in tps:
            self._next[tp.partition] = starts[tp.partition]
            self._recent[tp.partition] = RecentRecords(self._recent_bytes)
            if starts[tp.partition] < ends[tp]:
                self._filling[tp.partition] = ends[tp]
        if old is not None:
            # Records it fetched and the loop did not hand out are read again by the new
            # one (from `_next`); closing drops its held fetch with its connection. Not
            # awaited here: aiokafka's close swallows a cancel of its caller.
            task = asyncio.create_task(self._close(old))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _settle(self) -> None:
        """Release the followers of partitions whose memory reached its target."""
        assert self._consumer is not None
        for partition, end in list(self._filling.items()):
            # The consumer's position also steps over offsets that hold no record.
            tp = TopicPartition(self._settings.events_topic, partition)
            if max(self._next[partition], await self._consumer.position(tp)) >= end:
                del self._filling[partition]
        for partition in [p for p in self._pending if p in self._next]:
            if partition not in self._filling:
                fut = self._pending.pop(partition)
                if not fut.done():
                    fut.set_result(None)

    def _releasable(self) -> bool:
        return any(p in self._next and p not in self._filling for p in self._pending)

    async def _read(self) -> dict[TopicPartition, list[Any]]:
        """The next records of the followed partitions; {} once `_wake` is set (a follow()
        asks for a partition) or when none came for a while."""
        assert self._consumer is not None
        if self._wake.is_set():
            return {}
        if not self._next:
            await self._wake.wait()
            return {}
        # Under load records are there already: no task to wait beside the wake.
        batches: dict[TopicPartition, list[Any]]
        batches = await self._consumer.getmany(timeout_ms=0, max_records=1000)
        if batches:
            return batches
        # A follow() cancels this wait (`_waiting`): getmany takes records from the
        # fetcher's buffer only once it returns, so none is lost by cancelling it.
        self._waiting = asyncio.ensure_future(
            self._consumer.getmany(timeout_ms=self._fetch_wait_ms, max_records=1000)
        )
        try:
            return await self._waiting
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the feed itself is stopping
            return {}  # woken
        finally:
            self._waiting = None

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                # Cleared first: a follow() while this adoption awaits Kafka wakes the read.
                self._wake.clear()
                if any(p not in self._next for p in self._pending):
                    await self._adopt_pending()
                if self._filling or self._releasable():
                    await self._settle()
                batches = await self._read()
                handed = 0
                for tp, records in batches.items():
                    ring = self._recent[tp.partition]
                    for rec in records:
                        self._next[tp.partition] = rec.offset + 1
                        ring.append(rec.offset, rec.key or b"", rec.value or b"")
                        handed += self._hand_out(tp.partition, rec)
                        if handed >= self._yield_bytes:
                            # `_next` already names the next record: a delivery registered
                            # meanwhile gets the rest of the batch live, nothing twice.
                            handed = 0
                            await asyncio.sleep(0)
                    high = self._consumer.highwater(tp)
                    if high is not None:
                        _lag(tp.partition).set(high - self._next[tp.partition])
                if batches:
                    _memory("recent").set(sum(r.bytes for r in self._recent.values()))
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the node alive; the next loop retries
                log.exception("event feed iteration failed")
                self._rewind()
                await asyncio.sleep(0.5)

    def _hand_out(self, partition: int, rec: Any) -> int:
        """Offer one record to its company's receivers; returns the bytes of it they hold in
        queues. A record that is not an event is skipped (logged); a receiver that raises
        misses it alone (feed.hand_out)."""
        receivers = self._receivers.get(rec.key or b"")
        if not receivers:
            return 0
        cursor = Cursor(self._epoch, partition, rec.offset).encode_known()
        try:
            # Not through the replay cache: each live record is decoded once anyway, and
            # keeping every one alive for a while made the garbage collector's full runs
            # frequent (fan-out p99 doubled).
            event = Event.from_bytes(rec.value or b"", cursor)
        except ValueError:
            log.error("undecodable event at %s:%s", partition, rec.offset)
            return 0
        # Its size in memory is measured by the first socket that needs it (one that queues
        # it; measuring every event cost as much as decoding it).
        return hand_out(receivers, event)

    def _rewind(self) -> None:
        """After a failed iteration: read each partition again from the first record not
        yet handed out. The consumer's position is already past the whole batch it
        returned; reading on from there lost the rest of the batch for every socket and left
        a hole in the recent memory. Records before `_next` were handed out and remembered
        in full, so none is offered or remembered twice."""
        consumer = self._consumer
        if consumer is None:
            return
        try:
            for tp in consumer.assignment():
                if tp.partition in self._next:
                    consumer.seek(tp, self._next[tp.partition])
        except Exception:  # the next iteration fails again and retries
            log.exception("event feed cannot rewind to its next records")
