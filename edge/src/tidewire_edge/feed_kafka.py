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
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from tidewire_edge.feed_records import DECODED_BYTES, RECENT_BYTES, RecordFeed, lag_gauge
from tidewire_platform.settings import StackSettings

log = logging.getLogger("tidewire.edge.feed")


class KafkaEventFeed(RecordFeed):
    """The feed on aiokafka (module docstring); what it does with the records it reads is
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
        self._fetch_wait_ms = fetch_wait_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._standby: asyncio.Task[AIOKafkaConsumer] | None = None
        self._closing: set[asyncio.Task[None]] = set()  # previous consumers being closed
        # Set by a follow() that needs a partition adopted, which also cancels the reading
        # loop's wait for records (`_waiting`), instead of the loop waking on a timer to look.
        self._wake = asyncio.Event()
        self._waiting: asyncio.Future[dict[TopicPartition, list[Any]]] | None = None

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
            self._start_following(tp.partition, starts[tp.partition], ends[tp])
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
        self._release_settled()

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
                    for rec in records:
                        handed += self._take(
                            tp.partition, rec.offset, rec.key or b"", rec.value or b""
                        )
                        if handed >= self._yield_bytes:
                            # `_next` already names the next record: a delivery registered
                            # meanwhile gets the rest of the batch live, nothing twice.
                            handed = 0
                            await asyncio.sleep(0)
                    high = self._consumer.highwater(tp)
                    if high is not None:
                        lag_gauge(tp.partition).set(high - self._next[tp.partition])
                if batches:
                    self._remembered_bytes()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the node alive; the next loop retries
                log.exception("event feed iteration failed")
                self._rewind()
                await asyncio.sleep(0.5)

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
