"""Races found by a review of the librdkafka feed's rewind, its bounds lookups, and the
session store's release; each test failed on the code before its fix. Fakes stand in for
librdkafka's consumer (no engine running)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tidewire_edge import feed_rdkafka
from tidewire_edge.feed_rdkafka import RdKafkaEventFeed
from tidewire_edge.sessions import Session
from tidewire_edge.sessions_memory import MemorySessionStore
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit


class FakeMessage:
    def __init__(self, partition: int, offset: int, key: bytes, value: bytes) -> None:
        self._p, self._o, self._k, self._v = partition, offset, key, value

    def error(self) -> None:
        return None

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes:
        return self._k

    def value(self) -> bytes:
        return self._v


class Broker:
    """One partition (0) of records every fake consumer reads; batches of `batch` records."""

    def __init__(self, batch: int = 2) -> None:
        self.records: list[FakeMessage] = []
        self.batch = batch
        self.lock = threading.Lock()
        self.switched = False  # set by the probe once the rewind's switch ran (thread)
        self.fresh_read = threading.Event()  # a consumer read a batch after that switch
        self.watermark_delay = 0.0  # how long get_watermark_offsets blocks (slow Kafka)
        self.watermark_calls = 0


BROKER = Broker()


class FakeConsumer:
    def __init__(self, config: dict[str, Any]) -> None:
        self.position: dict[int, int] = {}
        self.closed = False
        self.fetching = False

    def list_topics(self, topic: str, timeout: float) -> None:
        return None

    def assign(self, tps: list[Any]) -> None:
        self.position = {tp.partition: tp.offset for tp in tps}
        self.fetching = True  # the first fetch after an assignment takes a round trip

    def unassign(self) -> None:
        self.position = {}

    def _next(self) -> FakeMessage | None:
        with BROKER.lock:
            at = self.position.get(0)
            if at is None or at >= len(BROKER.records):
                return None
            self.position[0] = at + 1
            return BROKER.records[at]

    def poll(self, timeout: float) -> FakeMessage | None:
        if self.fetching:
            self.fetching = False
            time.sleep(0.02)  # a fetch round trip to the partition's leader
        msg = self._next()
        if msg is None:
            time.sleep(min(timeout, 0.005))
        return msg

    def consume(self, n: int, timeout: float) -> list[FakeMessage]:
        out = []
        for _ in range(min(n, BROKER.batch - 1)):
            msg = self._next()
            if msg is None:
                break
            out.append(msg)
        if BROKER.switched and out:
            BROKER.fresh_read.set()
        return out

    def get_watermark_offsets(
        self, tp: Any, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        BROKER.watermark_calls += 1
        if BROKER.watermark_delay:
            time.sleep(BROKER.watermark_delay)
        return 0, len(BROKER.records)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def feed(monkeypatch: pytest.MonkeyPatch) -> RdKafkaEventFeed:
    global BROKER
    BROKER = Broker()
    monkeypatch.setattr(feed_rdkafka, "Consumer", FakeConsumer)
    return RdKafkaEventFeed(StackSettings(), "ep", backfill=0, fetch_wait_ms=1)


def _fail_once_at(feed: RdKafkaEventFeed, at: int, taken: list[int]) -> Callable[[], bool]:
    """The feed's own hand-out (`_take`) fails once at offset `at`; `taken` gets every offset
    handed out after. Returns whether it has failed yet."""
    failed = False
    take = feed._take

    def flaky_take(partition: int, offset: int, key: bytes, value: bytes) -> int:
        nonlocal failed
        if offset == at and not failed:
            failed = True
            raise RuntimeError("a bug of the feed's own, once")
        taken.append(offset)
        return take(partition, offset, key, value)

    feed._take = flaky_take  # type: ignore[method-assign]
    return lambda: failed


async def _write_and_read(feed: RdKafkaEventFeed, end: int) -> None:
    """Write partition 0's records up to offset `end` and wait until the feed read them all
    (a record read twice before them was handed out twice by then: reads are in order)."""
    with BROKER.lock:
        start = len(BROKER.records)
        BROKER.records.extend(FakeMessage(0, o, b"c", b"v%d" % o) for o in range(start, end))
    deadline = time.monotonic() + 5
    while feed._next.get(0, 0) < end:
        assert time.monotonic() < deadline, f"the feed never read up to {end}"
        await asyncio.sleep(0.01)


async def _rewind_once(feed: RdKafkaEventFeed, busy_loop: bool) -> list[int]:
    """Follow partition 0, write 6 records, fail the hand-out of offset 2 once; returns the
    offsets handed out in order once all is read (and a seventh record after them)."""
    await feed.start()
    try:
        await feed.follow(0, 5)
        taken: list[int] = []
        failed = _fail_once_at(feed, 2, taken)
        switch = feed._switch

        def switch_probe(fresh: Any) -> Any:
            old = switch(fresh)
            if failed():
                BROKER.switched = True
            return old

        feed._switch = switch_probe  # type: ignore[method-assign]
        on_reader = feed._on_reader

        async def busy_on_reader(fn: Any) -> Any:
            if not (busy_loop and failed()):
                return await on_reader(fn)
            task = asyncio.ensure_future(on_reader(fn))
            await asyncio.sleep(0)  # the switch is queued for the reading thread
            # The loop is busy (other sockets) while the thread switches and reads a batch
            # with the fresh consumer: both answers are queued before the loop looks.
            assert BROKER.fresh_read.wait(2)
            time.sleep(0.05)  # noqa: ASYNC251
            return await task

        feed._on_reader = busy_on_reader  # type: ignore[method-assign]
        await _write_and_read(feed, 6)
        await _write_and_read(feed, 7)
        return taken[: taken.index(6)]
    finally:
        await feed.stop()


@pytest.mark.asyncio
async def test_a_rewind_reads_every_record_once_on_a_quiet_loop(feed: RdKafkaEventFeed) -> None:
    assert await _rewind_once(feed, busy_loop=False) == [0, 1, 2, 3, 4, 5]


@pytest.mark.asyncio
async def test_a_rewind_keeps_the_fresh_consumers_first_batch_on_a_busy_loop(
    feed: RdKafkaEventFeed,
) -> None:
    """The fresh consumer's first batch can arrive (call_soon_threadsafe) between the
    switch's answer and the rewind task resuming: it is handed out, not dropped with the
    old consumer's (dropped, nobody read it again: a hole for every socket and in memory)."""
    assert await _rewind_once(feed, busy_loop=True) == [0, 1, 2, 3, 4, 5]


# -- bounds lookups ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_slow_bounds_lookups_leave_the_default_executor_free(feed: RdKafkaEventFeed) -> None:
    """With Kafka slow to answer ListOffsets, a round of bounds for the topic's partitions
    runs on threads of its own: the loop's default executor (the probe for readiness and
    adoptions, consumer closes, DNS resolution) does not queue behind it."""
    await feed.start()
    try:
        loop = asyncio.get_running_loop()
        from concurrent.futures import ThreadPoolExecutor

        before = loop._default_executor  # type: ignore[attr-defined]
        loop.set_default_executor(ThreadPoolExecutor(max_workers=6))  # 2 cores: min(32, 2+4)
        BROKER.watermark_delay = 0.5
        lookups = asyncio.ensure_future(feed.bounds(list(range(12))))  # 12 partitions
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await loop.run_in_executor(None, lambda: None)  # any other user: DNS, a close
        waited = time.monotonic() - started
        await lookups
        loop._default_executor = before  # type: ignore[attr-defined]
        assert waited < 0.2, f"an unrelated executor job waited {waited:.2f} s"
    finally:
        BROKER.watermark_delay = 0.0
        await feed.stop()


@pytest.mark.asyncio
async def test_a_lookup_started_during_stop_never_runs_on_a_closed_handle(
    feed: RdKafkaEventFeed,
) -> None:
    """A lookup asked while stop() closes the handles is refused (the planner retries),
    never run on the `_offsets` handle being closed (a use after destroy in C)."""
    await feed.start()
    offsets = feed._offsets
    assert offsets is not None
    BROKER.watermark_delay = 0.3
    closed_during: list[bool] = []
    get = offsets.get_watermark_offsets

    def watch(tp: Any, timeout: float | None = None, cached: bool = False) -> Any:
        found = get(tp, timeout, cached)
        closed_during.append(offsets.closed)
        return found

    offsets.get_watermark_offsets = watch  # type: ignore[method-assign]
    stopping = asyncio.ensure_future(feed.stop())
    late: list[asyncio.Future[Any]] = []
    for _ in range(50):  # a reconnect planned while the node stops
        await asyncio.sleep(0.005)
        if feed._offsets is None:
            break
        late.append(asyncio.ensure_future(feed.bounds([0])))
    await stopping
    await asyncio.gather(*late, return_exceptions=True)
    BROKER.watermark_delay = 0.0
    assert not any(closed_during), "a lookup ran on a closed handle"


# -- release ------------------------------------------------------------------------------


def _conn() -> dict[str, str]:
    """A connection's nonce, as server._connect sets it."""
    import uuid

    return {"conn": uuid.uuid4().hex} if "conn" in Session.model_fields else {}


def _session(**changes: Any) -> Session:
    base = Session(pid="p", sid="s", company_id="c", user_id="u", node="A", received=True)
    return base.model_copy(update=changes)


@pytest.mark.asyncio
async def test_a_late_release_of_an_old_connection_leaves_an_identical_newer_one_live() -> None:
    """The same client recovered on the same node (same sid, node, rooms, position, received)
    saves a session identical to its old connection's but for the connection's nonce: a late
    release of the old connection must not mark the live one's session dropped (a reconnect
    elsewhere would then skip evicting its possibly half-open transport)."""
    store = MemorySessionStore(window_s=60)
    old = _session(position="x", **_conn())
    await store.save(old)
    taken = await store.take("p")  # the recovery on node A
    new = _session(position="x", **_conn())  # what server._connect builds for it
    await store.save(new)
    await store.release(old)  # the old connection's disconnect handler, late
    assert taken is not None
    stored = await store.take("p")
    assert stored is not None
    assert not stored.dropped, "a live connection's session was stored as dropped"


@pytest.mark.asyncio
async def test_a_late_quiet_release_does_not_shorten_a_newer_connections_session() -> None:
    """A half-open socket on A that was sent nothing; its client recovers on B (B's session
    is saved at once, then B asks A to evict over Redis); A's disconnect handler runs after
    B's save: `release(..., quiet_session_s)` leaves B's live session's window alone (cut to
    60 s while B refreshes it only every recovery_window_s / 3, a drop of B's socket in
    between found no session to recover)."""
    now = [0.0]
    store = MemorySessionStore(window_s=1800, clock=lambda: now[0])
    on_a = _session(received=False)
    await store.save(on_a)
    assert await store.take("p") is not None  # the recovery on B
    on_b = _session(node="B", sid="s")
    await store.save(on_b)
    await store.release(on_a, 60)  # A's eviction handler, after B's save
    now[0] += 61
    assert await store.exists("p"), "B's live session expired 61 s after A's late release"


@pytest.mark.asyncio
async def test_a_failed_rewind_switch_does_not_end_the_feed(feed: RdKafkaEventFeed) -> None:
    """A rewind whose switch fails is retried, as an adoption's is: escaping `_run`, it
    ended the feed's task, and no socket of the node got another event."""
    await feed.start()
    try:
        await feed.follow(0, 5)
        taken: list[int] = []
        failed = _fail_once_at(feed, 2, taken)
        switch = feed._switch
        switch_failed = False

        def flaky_switch(fresh: Any) -> Any:
            nonlocal switch_failed
            if failed() and not switch_failed:
                switch_failed = True
                raise RuntimeError("assign failed (librdkafka: erroneous state)")
            return switch(fresh)

        feed._switch = flaky_switch  # type: ignore[method-assign]
        await _write_and_read(feed, 6)
        assert feed._task is not None and not feed._task.done(), "the feed's loop ended"  # noqa: PT018
        assert switch_failed
        assert taken == [0, 1, 2, 3, 4, 5]
    finally:
        await feed.stop()
