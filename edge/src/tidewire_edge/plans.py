"""What one CONNECT will be, decided before python-socketio makes a sid for it.

A plan's outcome is one of five, each carrying only what it needs:
- `Refusal`: a CONNECT_ERROR (bad or expired token, too many connects); the client gives up;
- `Retry`: a passing failure (Redis, Kafka, a helpdesk proxy); the transport is closed so the
  client reconnects by itself (see `recovery.RetryLater`);
- `Fresh`: a new session, maybe after a recovery or replay that was asked for and was
  impossible (`resync` says why, `failed_as` labels it for the metrics);
- `Replayed`: a new session that first replays the log after the client's `lastEventId`;
- `Recovered`: the client's stored session resumed (same sid, rooms, data), replaying after
  its offset.
The planner (planner.py) chooses; the socket's connect handler (server.py) carries it out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tidewire_edge.gateway.state import Connected
from tidewire_edge.sessions import Session
from tidewire_platform.cursor import Cursor
from tidewire_platform.tokens import Principal


@dataclass(frozen=True)
class Refusal:
    """Refused for `reason`; `data` is the CONNECT_ERROR's `{code, ...}`."""

    reason: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Retry:
    """A passing failure: close the transport, and let the client retry by itself."""

    reason: str


@dataclass(frozen=True)
class Fresh:
    """A new session for `who`. `gateway`: the helpdesk user, its connect-time rooms and
    token expiry (gateway mode only)."""

    counted_as: ClassVar[str | None] = None  # the recoveries metric's label once connected

    who: Principal
    gateway: Connected | None = None
    resync: str | None = None  # why a requested recovery or replay was impossible
    failed_as: str | None = None  # expired | foreign | stale | invalid: why `resync`
    expires: float | None = None  # the tidewire token's `exp` (platform mode), as verified


@dataclass(frozen=True)
class Replayed:
    """A new session that replays the log after `after` (the client's lastEventId)."""

    counted_as: ClassVar[str | None] = "replayed"

    who: Principal
    gateway: Connected | None
    after: Cursor
    expires: float | None = None  # as `Fresh.expires`


@dataclass(frozen=True)
class Recovered:
    """The stored `session` resumed, replaying after `after` (None: from the oldest event
    the log retains)."""

    counted_as: ClassVar[str | None] = "recovered"

    who: Principal
    gateway: Connected | None
    session: Session
    after: Cursor | None
    expires: float | None = None  # as `Fresh.expires`


Admitted = Fresh | Replayed | Recovered
Outcome = Refusal | Retry | Admitted


@dataclass
class Plan:
    """One CONNECT's outcome, with the session id the client is told (`pid`) and an event
    set once the CONNECT reply went out (replayed events and resyncs must follow it)."""

    pid: str
    namespace: str
    outcome: Outcome
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def session(self) -> Session | None:
        """The stored session this connect took from the store, if it recovers one."""
        return self.outcome.session if isinstance(self.outcome, Recovered) else None
