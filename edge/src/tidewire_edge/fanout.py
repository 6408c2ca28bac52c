"""A company's sockets on this node, handed each live event together: one receiver of the feed.

Every recipient of an event gets the same bytes (its cursor is the event's offset, not a
per-socket counter), so what an event costs to send is worked out once per event here: its
offset, which of the sockets' kinds get which packets (a whole event, or a publication by the
socket's namespace and rooms), their frames, the metrics. Per socket there is left a few checks
and a write (`Delivery.take`); a socket that cannot take it so (replaying, holding packets,
rooms of its own, ack mode, a full connection) gets it through `Delivery.offer` as before, in
order behind what it holds.

The feed's guarantees carry over: a socket added here gets the company's events from the
offset the feed names at that instant (`Fanouts.add`), and one that raises misses that event
alone.
"""

from __future__ import annotations

import logging

from tidewire_edge.delivery import (
    Delivery,
    Packet,
    emits,
    observe_latency,
    published_to,
    whole_event,
)
from tidewire_edge.feed import EventFeed
from tidewire_edge.node import Engines
from tidewire_edge.sizes import event_bytes
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.publications import PUBLICATION

log = logging.getLogger("tidewire.edge.fanout")


class Outgoing:
    """One live event on its way to a company's sockets: what every socket of a kind gets of
    it, worked out at the first socket of that kind and shared by the next."""

    __slots__ = ("_by_audience", "_size", "_whole", "cursor", "event", "offset", "written")

    def __init__(self, event: Event, size: int | None) -> None:
        assert event.cursor is not None
        self.event = event
        self.cursor = event.cursor
        self.offset = Cursor.decode(event.cursor).offset
        self._size = size
        # (namespace, publication rooms) -> the packets of a socket of that audience
        self._by_audience: dict[tuple[str, frozenset[str]], list[Packet]] = {}
        self.written = 0  # packets written by `Delivery.take`, counted once per event
        self._whole: list[Packet] | None = None

    @property
    def size(self) -> int:
        """The bytes the decoded event holds (byte budgets): measured when first needed."""
        if self._size is None:
            self._size = event_bytes(self.event)
        return self._size

    def publication(self, namespace: str, rooms: frozenset[str]) -> list[Packet]:
        """The packets of a socket in `namespace` and `rooms` ([] when it gets nothing)."""
        audience = (namespace, rooms)
        found = self._by_audience.get(audience)
        if found is None:
            body = published_to(self.event, namespace, rooms)
            found = [] if body is None else [(body[0], (body[1], self.cursor))]
            self._by_audience[audience] = found
        return found

    def whole(self) -> list[Packet]:
        """The packets of a socket that gets all of the event (one list for all of them, the
        one `delivery.whole_event` gives the sockets that take the way of `offer`)."""
        if self._whole is None:
            self._whole = whole_event(self.event)
        return self._whole


class Fanout:
    """The deliveries of one company on this node, as the feed's single receiver for it."""

    __slots__ = ("_members", "deliveries")

    def __init__(self) -> None:
        self.deliveries: set[Delivery] = set()
        self._members: tuple[Delivery, ...] = ()  # the same, iterated once per event

    def add(self, delivery: Delivery) -> None:
        self.deliveries.add(delivery)
        self._members = tuple(self.deliveries)

    def discard(self, delivery: Delivery) -> None:
        self.deliveries.discard(delivery)
        self._members = tuple(self.deliveries)

    def offer(self, event: Event, size: int | None = None) -> int:
        """A live event of the company, in log order: to each delivery (never blocks).
        Returns the bytes of it held in the deliveries' queues (feed.Receiver)."""
        out = Outgoing(event, size)
        held = 0
        for delivery in self._members:
            try:
                held = max(held, delivery.take(out))
            except Exception:  # that socket's alone: the others still get the event
                log.exception("delivery to %s failed to take %s", delivery.sid, out.cursor)
        if out.written:
            kind = PUBLICATION if event.type == PUBLICATION else None
            if kind is None:
                kind = out.whole()[0][0].rsplit("-", 1)[-1]
            emits(kind).inc(out.written)
            observe_latency(event, out.offset)
        return held


class Fanouts:
    """This node's fan-outs by company, registered with the node's feed while they have
    members."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines  # its feed is read at each call (made at startup)
        self._by_company: dict[str, Fanout] = {}

    @property
    def _feed(self) -> EventFeed:
        feed = self._engines.feed
        assert feed is not None
        return feed

    def add(self, company_id: str, partition: int, delivery: Delivery) -> int:
        """Hand `delivery` every event of the company from the returned offset on (the
        feed's `register`, whose offset this is: nothing is handed out in between)."""
        fanout = self._by_company.get(company_id)
        if fanout is None:
            fanout = self._by_company[company_id] = Fanout()
        fanout.add(delivery)
        # Registering again is a no-op but for the offset: the feed's next one to hand out.
        return self._feed.register(company_id, partition, fanout)

    def members(self, company_id: str) -> int:
        """How many deliveries the company has on this node."""
        fanout = self._by_company.get(company_id)
        return 0 if fanout is None else len(fanout.deliveries)

    def discard(self, company_id: str, delivery: Delivery) -> None:
        fanout = self._by_company.get(company_id)
        if fanout is None:
            return
        fanout.discard(delivery)
        if not fanout.deliveries:
            del self._by_company[company_id]
            self._feed.unregister(company_id, fanout)
