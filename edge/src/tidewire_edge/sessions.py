"""The seam between edge nodes and the recovery sessions they share.

A session is written when a socket connects and whenever its rooms change (never only at
close: a node killed with SIGKILL closes nothing). While the socket lives, its node refreshes
the expiry, so a long quiet connection stays recoverable for the whole window after it drops.
Guarantees of every `SessionStore`:

- shared: a session saved by one node is seen by every node of the same store;
- `take` is atomic: of any number of concurrent takes of one pid, exactly one gets the
  session and it is gone for the others (two reconnects racing cannot both recover it);
- a session lives for the window from its last `save`, `touch` or `release`, then is gone;
  `touch` and `release` never bring back a session that was taken or expired;
- last write wins: `save` replaces the whole session.

An exception means the store did not answer: the session may or may not be there (a
connect then falls back to a fresh session; nothing is recovered twice).
Bindings: `sessions_redis.py` (every node), `sessions_memory.py` (one process: tests).
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel


class Session(BaseModel):
    pid: str
    sid: str
    company_id: str
    user_id: str
    rooms: list[str] = []
    data: dict[str, Any] = {}
    position: str | None = None  # cursor to replay after when the client sends no offset
    acks: bool = False
    node: str | None = None  # host id of the node that last held the socket
    joined: bool = False  # joined a Whaticket room: receives only its rooms' events since
    # Recovered or replayed a position once: worth the whole recovery window after a drop. A
    # fresh session whose socket was sent nothing is kept only briefly (quiet_session_s), so
    # connect/drop cycles cannot fill Redis with sessions of nothing.
    received: bool = False
    # Its socket disconnected from `node` (written by `release`): no live transport of it is
    # left there to evict when a reconnect takes it, so the reconnect asks no node to.
    dropped: bool = False
    # One connection's own (server._connect): two connections' sessions never compare equal
    # in `release`, even the same client's recovered on the same node with nothing new.
    conn: str = ""


class SessionStore(Protocol):
    async def save(self, session: Session) -> None:
        """Store the session under its pid for the whole window, replacing what was there."""
        ...

    async def exists(self, pid: str) -> bool:
        """Whether a session is stored under `pid` (a cheap check before costlier work)."""
        ...

    async def take(self, pid: str) -> Session | None:
        """The session, removed: of concurrent takes of one pid only one gets it."""
        ...

    async def touch(self, pids: list[str], window_s: int | None = None) -> None:
        """Keep these sessions for the window (or `window_s`) from now, if still stored."""
        ...

    async def release(self, session: Session, window_s: int | None = None) -> None:
        """The session's socket disconnected: keep its session for the window (or `window_s`)
        from now, marked `dropped` if it is still stored as `session` (as this node saved it
        last); one saved since by another connection is left as it is (its node keeps it).
        Like `touch`, it never brings back a session taken by a reconnect or expired."""
        ...

    async def reachable(self, timeout_s: float = 3.0) -> bool:
        """Whether the store answers (the node's readiness)."""
        ...

    async def close(self) -> None: ...
