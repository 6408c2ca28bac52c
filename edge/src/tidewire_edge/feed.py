"""The seam between a node's sockets and the live tail of the events log.

A node follows the events partitions of the companies its sockets belong to and hands each
event to the deliveries of its company as it is read. Guarantees of every `EventFeed`:

- order: a receiver is offered its company's events in log order, each once, synchronously
  from the reading loop (a receiver must not block: it queues);
- isolation: a receiver that raises misses that event (it is logged), and nothing else does:
  the company's other receivers still get it, and the feed reads on;
- no gap at registration: `register` returns the offset from which the receiver gets every
  event of the company live; what comes before it is the receiver's to replay (`recent`,
  else the events log), so replay plus live is the whole log, nothing twice;
- `recent` serves from memory only what memory holds whole; None means "read the log".

`follow` raises TimeoutError when the partition cannot be read to its end in time (the
connect waiting on it is refused with a reason); any other exception is the engine failing.
Bindings: `feed_kafka.py` (the events topic, aiokafka), `feed_rdkafka.py` (the same, librdkafka),
`feed_memory.py` (a `MemoryEventsLog`: tests); the Kafka ones share `feed_records.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Protocol

from tidewire_platform.contracts import Event
from tidewire_platform.partitioning import company_key

log = logging.getLogger("tidewire.edge.feed")


class Receiver(Protocol):
    def offer(self, event: Event, size: int | None = None) -> int | None:
        """Take a live event holding `size` bytes in memory (None: measure it if needed);
        returns the bytes of it now held in a queue (0 or None: none, it went out at once)."""
        ...


class Receivers(dict[bytes, set[Receiver]]):
    """A node's receivers by company key, as every binding keeps them. A company without
    receivers has no entry, so the reading loop skips its records with one plain `get`."""

    def add(self, company_id: str, receiver: Receiver) -> None:
        self.setdefault(company_key(company_id), set()).add(receiver)

    def discard(self, company_id: str, receiver: Receiver) -> None:
        key = company_key(company_id)
        found = self.get(key)
        if found is not None:
            found.discard(receiver)
            if not found:
                del self[key]


def hand_out(receivers: Iterable[Receiver], event: Event, size: int | None = None) -> int:
    """Offer `event` to each receiver; returns the bytes of it held in queues (the most any
    receiver said: they share the one event). One that raises (a bug in one socket's code)
    is logged and skipped: it must not cost the node's other sockets this event, nor stop
    the reading loop (which would lose the rest of its batch for everyone)."""
    held = 0
    for receiver in list(receivers):
        try:
            held = max(held, receiver.offer(event, size) or 0)
        except Exception:
            log.exception("a receiver failed to take the event %s", event.cursor)
    return held


class EventFeed(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def reachable(self, timeout_s: float = 3.0) -> bool:
        """Whether the log answers and the reading loop still runs (the node's readiness)."""
        ...

    async def follow(self, partition: int, timeout_s: float) -> None:
        """Return once `partition` is read up to its end at the time of the first call;
        TimeoutError if that does not happen within `timeout_s`."""
        ...

    def register(self, company_id: str, partition: int, receiver: Receiver) -> int:
        """Hand `receiver` every event of the company from the returned offset on (the
        partition must be followed). Earlier events are the receiver's to replay."""
        ...

    def unregister(self, company_id: str, receiver: Receiver) -> None: ...

    def recent(
        self, company_id: str, partition: int, after: int, until: int
    ) -> Iterator[tuple[Event, int]] | None:
        """The company's events (with their sizes in memory) with after < offset < until
        from memory, or None when memory does not reach back that far (read the log)."""
        ...
