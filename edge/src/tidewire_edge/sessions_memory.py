"""SessionStore in one process's memory: the contract without Redis, for unit tests.

Expiry follows `clock` (monotonic seconds; a test may pass its own to move time), checked
when a session is looked at. Nothing awaits inside a call, so `take` is atomic on the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tidewire_edge.sessions import Session


class MemorySessionStore:
    def __init__(self, window_s: int = 60, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_s
        self._clock = clock
        self._stored: dict[str, tuple[str, float]] = {}  # pid -> (JSON, expires at)

    def _live(self, pid: str) -> str | None:
        found = self._stored.get(pid)
        if found is None:
            return None
        if found[1] <= self._clock():
            del self._stored[pid]
            return None
        return found[0]

    def expires_at(self, pid: str) -> float | None:
        """When the session expires on `clock`, or None if none is stored (for tests)."""
        return self._stored[pid][1] if self._live(pid) is not None else None

    async def save(self, session: Session) -> None:
        # Stored as JSON, as Redis holds it: a caller changing its object later changes
        # nothing stored.
        self._stored[session.pid] = (session.model_dump_json(), self._clock() + self._window)

    async def exists(self, pid: str) -> bool:
        return self._live(pid) is not None

    async def take(self, pid: str) -> Session | None:
        raw = self._live(pid)
        if raw is None:
            return None
        del self._stored[pid]
        return Session.model_validate_json(raw)

    async def touch(self, pids: list[str], window_s: int | None = None) -> None:
        for pid in pids:
            raw = self._live(pid)
            if raw is not None:
                self._stored[pid] = (raw, self._clock() + (window_s or self._window))

    async def release(self, session: Session, window_s: int | None = None) -> None:
        raw = self._live(session.pid)
        if raw is None:
            return
        if raw != session.model_dump_json():
            return  # saved since by another connection: its own node keeps it
        raw = session.model_copy(update={"dropped": True}).model_dump_json()
        self._stored[session.pid] = (raw, self._clock() + (window_s or self._window))

    async def reachable(self, timeout_s: float = 3.0) -> bool:
        return True

    async def close(self) -> None:
        pass
