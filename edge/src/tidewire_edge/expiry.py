"""Sockets end with their token: one timer per socket, fired at the token's `exp`.

A token is checked when its socket connects; without this the socket would keep receiving a
tenant's messages for as long as it stays up, while REST already answers 401. At expiry the
socket is sent nothing more (`expired` is checked before every send), is told
`tidewire:reauth` with the reason, and its transport is closed like a network drop, so its
session stays recoverable: a client that reconnects with a new token in `auth` recovers it and
gets everything it missed once; one that reconnects with the old token is refused with
`token expired`.

A timer per socket costs one entry in the event loop's heap, O(log n) to add and to cancel,
so ten thousand sockets cost nothing a sweep would save, and the cut happens at `exp` itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("tidewire.edge.expiry")

REAUTH_EVENT = "tidewire:reauth"


class TokenClocks:
    """One timer per socket; `on_expiry(sid)` runs when the socket's token expires."""

    def __init__(self, on_expiry: Callable[[str], Awaitable[None]]) -> None:
        self._on_expiry = on_expiry
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._expired: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, sid: str, expires_at: float) -> None:
        """Arm `sid`'s timer for `expires_at` (epoch seconds), replacing an older one."""
        self.stop(sid)
        delay = max(0.0, expires_at - time.time())
        self._timers[sid] = asyncio.get_running_loop().call_later(delay, self._fire, sid)

    def stop(self, sid: str) -> None:
        """The socket is gone: forget its timer and its expiry."""
        timer = self._timers.pop(sid, None)
        if timer is not None:
            timer.cancel()
        self._expired.discard(sid)

    def expired(self, sid: str) -> bool:
        """Whether `sid`'s token has expired (nothing may be sent to it any more)."""
        return sid in self._expired

    def __len__(self) -> int:
        return len(self._timers)

    def _fire(self, sid: str) -> None:
        if self._timers.pop(sid, None) is None:
            return
        self._expired.add(sid)  # before any await: no event goes out after this instant
        task = asyncio.get_running_loop().create_task(self._run(sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, sid: str) -> None:
        try:
            await self._on_expiry(sid)
        except Exception:
            log.exception("socket %s could not be ended at its token's expiry", sid)

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks: list[Any] = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
