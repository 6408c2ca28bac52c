"""Recovery sessions in Redis, shared by every edge node.

A session is written when a socket connects and whenever its rooms change (never only at
close: a node killed with SIGKILL closes nothing). It is taken with GETDEL, so two reconnects
racing with the same pid cannot both recover it. While the socket lives, its node refreshes the
expiry, so a long quiet connection stays recoverable for the whole window after it drops.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis
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


class SessionStore:
    def __init__(self, url: str, window_s: int, prefix: str = "tidewire:edge:session:") -> None:
        # A bounded pool that waits for a free connection: a thousand clients reconnecting at
        # once queue here instead of failing with "too many connections".
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=20)
        self._r = redis.Redis(connection_pool=pool)
        self._window = window_s
        self._prefix = prefix

    async def save(self, session: Session) -> None:
        await self._r.set(self._prefix + session.pid, session.model_dump_json(), ex=self._window)

    async def exists(self, pid: str) -> bool:
        """Whether a session is stored under `pid` (a cheap check before costlier work)."""
        return bool(await self._r.exists(self._prefix + pid))

    async def take(self, pid: str) -> Session | None:
        raw = await self._r.getdel(self._prefix + pid)
        return Session.model_validate_json(raw) if raw else None

    async def touch(self, pids: list[str], window_s: int | None = None) -> None:
        """Keep these sessions for the window (or `window_s`) from now, if still stored."""
        if not pids:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.expire(self._prefix + pid, window_s or self._window)
            await pipe.execute()

    async def reachable(self, timeout_s: float = 3.0) -> bool:
        try:
            return bool(await asyncio.wait_for(self._r.ping(), timeout_s))
        except (redis.RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        await self._r.aclose(close_connection_pool=True)
