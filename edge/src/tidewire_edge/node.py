"""What the parts of one edge node share: its links to the engines, and its table of the
sockets connected to it (by Socket.IO sid)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tidewire_edge.delivery import Delivery
from tidewire_edge.feed import EventFeed
from tidewire_edge.sessions import Session, SessionStore
from tidewire_platform.events_log import EventsLog
from tidewire_platform.ticket_owners import TicketOwners


@dataclass
class Engines:
    """The node's clients of Redis (sessions), Kafka (the log, the live feed) and Cassandra
    (ticket owners). Parts read these at each call, so one swap reaches them all."""

    sessions: SessionStore
    events: EventsLog
    tickets: TicketOwners
    feed: EventFeed | None = None  # made at startup, once the log's epoch is known


@dataclass
class LocalSockets:
    """This node's connected sockets. An entry exists from a socket's connect to its
    disconnect; `live` holds each one's session as last saved."""

    live: dict[str, Session] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)  # gateway: maybe not "/"
    join_locks: dict[str, asyncio.Lock] = field(default_factory=dict)  # one change at a time

    def namespace(self, sid: str) -> str:
        return self.namespaces.get(sid, "/")

    def forget(self, sid: str) -> tuple[Delivery | None, Session | None]:
        """Drop `sid` from the table; returns its delivery and session, if it had them."""
        self.namespaces.pop(sid, None)
        self.join_locks.pop(sid, None)
        return self.deliveries.pop(sid, None), self.live.pop(sid, None)
