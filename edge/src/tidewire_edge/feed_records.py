"""What every Kafka binding of the EventFeed does with the records it reads, whatever client
reads them: remember them (`RecentRecords`), hand them to their company's receivers, serve
replays from memory, and know which partitions it follows and from which offset.

A binding (`feed_kafka.py` on aiokafka, `feed_rdkafka.py` on librdkafka) only reads: it
positions its consumer, fetches, and passes each record to `_take`, in log order per
partition, on the event loop (receivers are not thread-safe). `_next` is the single truth of
where a partition's reading stands: `register` returns it, replays stop before it, and a
binding that reads a record again skips it by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any

from cachetools import LRUCache

from tidewire_edge.feed import Receiver, Receivers, hand_out
from tidewire_edge.recent import RecentRecords
from tidewire_edge.sizes import event_bytes
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.metrics import EDGE_LAG, EDGE_MEMORY
from tidewire_platform.partitioning import company_key

log = logging.getLogger("tidewire.edge.feed")

RECENT_BYTES = 24 * 1024**2  # per partition (EdgeSettings.recent_budget gives the node's)
DECODED_BYTES = 48 * 1024**2  # decoded events kept (EdgeSettings.decoded_budget)


@functools.cache
def lag_gauge(partition: int) -> Any:
    """The lag gauge of one partition (a label lookup costs more than the update)."""
    return EDGE_LAG.labels(str(partition))


@functools.cache
def memory_gauge(kind: str) -> Any:
    return EDGE_MEMORY.labels(kind)


def _size_of(decoded: tuple[Event, int]) -> int:
    return decoded[1]


class RecordFeed:
    """The state and hand-out shared by the Kafka bindings (module docstring)."""

    def __init__(
        self,
        epoch: str,
        recent_bytes: int = RECENT_BYTES,
        backfill: int = 5_000,
        decoded_bytes: int = DECODED_BYTES,
        yield_bytes: int = 1024**2,
    ) -> None:
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
        self._next: dict[int, int] = {}  # partition -> next offset to hand out
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._receivers = Receivers()
        # Events decoded lately, by (partition, offset): a company's clients reconnecting
        # together replay the same events, and decoding each for every client was ≈ 6 % of a
        # node's CPU in a recovery storm. Bounded by the bytes the events hold (sizes.py).
        # Each with its size, which the byte budgets of ack-mode sockets need again.
        self._decoded: LRUCache[tuple[int, int], tuple[Event, int]] = LRUCache(
            maxsize=decoded_bytes, getsizeof=_size_of
        )

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
            memory_gauge("decoded").set(self._decoded.currsize)
        return found

    def _start_following(self, partition: int, start: int, end: int) -> None:
        """`partition` is read from `start`; its followers wait until memory reaches `end`
        (the partition's end when the follow was asked)."""
        self._next[partition] = start
        self._recent[partition] = RecentRecords(self._recent_bytes)
        if start < end:
            self._filling[partition] = end

    def _release_settled(self) -> None:
        """Release the followers of partitions followed whose memory reached its target."""
        for partition in [p for p in self._pending if p in self._next]:
            if partition not in self._filling:
                fut = self._pending.pop(partition)
                if not fut.done():
                    fut.set_result(None)

    def _releasable(self) -> bool:
        return any(p in self._next and p not in self._filling for p in self._pending)

    def _take(self, partition: int, offset: int, key: bytes, value: bytes) -> int:
        """Remember one record read and offer it to its company's receivers; returns the
        bytes of it they hold in queues. `_next` names the following record before any
        receiver runs: a delivery registered during a yield gets the rest live."""
        self._next[partition] = offset + 1
        self._recent[partition].append(offset, key, value)
        return self._hand_out(partition, offset, key, value)

    def _hand_out(self, partition: int, offset: int, key: bytes, value: bytes) -> int:
        """Offer one record to its company's receivers; returns the bytes of it they hold in
        queues. A record that is not an event is skipped (logged); a receiver that raises
        misses it alone (feed.hand_out)."""
        receivers = self._receivers.get(key)
        if not receivers:
            return 0
        cursor = Cursor(self._epoch, partition, offset).encode_known()
        try:
            # Not through the replay cache: each live record is decoded once anyway, and
            # keeping every one alive for a while made the garbage collector's full runs
            # frequent (fan-out p99 doubled).
            event = Event.from_bytes(value, cursor)
        except ValueError:
            log.error("undecodable event at %s:%s", partition, offset)
            return 0
        # Its size in memory is measured by the first socket that needs it (one that queues
        # it; measuring every event cost as much as decoding it).
        return hand_out(receivers, event)

    def _remembered_bytes(self) -> None:
        memory_gauge("recent").set(sum(r.bytes for r in self._recent.values()))
