"""SessionStore on Redis, shared by every edge node.

A session is one key holding its JSON with the recovery window as expiry. `take` is GETDEL,
so two reconnects racing with the same pid cannot both recover it; `touch` is EXPIRE
(pipelined), which never brings back a key that is gone; `release` is one script (below).
"""

from __future__ import annotations

import asyncio

import redis.asyncio as redis

from tidewire_edge.sessions import Session

# `release`, in one round trip: the session as its node last saved it (ARGV[1]) becomes the
# same marked dropped (ARGV[2]); a session saved since by another connection (a reconnect
# elsewhere got it first) is left as it is: a late disconnect neither overwrites a newer
# connection's session nor cuts its expiry to this socket's (quiet) window; that connection's
# node keeps it. A key that is gone stays gone. ARGV[3]: the window, seconds.
_RELEASE = """
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
if stored == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 2
"""


class RedisSessionStore:
    def __init__(self, url: str, window_s: int, prefix: str = "tidewire:edge:session:") -> None:
        # A bounded pool that waits for a free connection: a thousand clients reconnecting at
        # once queue here instead of failing with "too many connections".
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=20)
        self._redis = redis.Redis(connection_pool=pool)
        self._window = window_s
        self._prefix = prefix
        self._release = self._redis.register_script(_RELEASE)

    async def save(self, session: Session) -> None:
        await self._redis.set(
            self._prefix + session.pid, session.model_dump_json(), ex=self._window
        )

    async def exists(self, pid: str) -> bool:
        """Whether a session is stored under `pid` (a cheap check before costlier work)."""
        return bool(await self._redis.exists(self._prefix + pid))

    async def take(self, pid: str) -> Session | None:
        raw = await self._redis.getdel(self._prefix + pid)
        return Session.model_validate_json(raw) if raw else None

    async def touch(self, pids: list[str], window_s: int | None = None) -> None:
        """Keep these sessions for the window (or `window_s`) from now, if still stored."""
        if not pids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.expire(self._prefix + pid, window_s or self._window)
            await pipe.execute()

    async def release(self, session: Session, window_s: int | None = None) -> None:
        dropped = session.model_copy(update={"dropped": True})
        await self._release(
            keys=[self._prefix + session.pid],
            args=[session.model_dump_json(), dropped.model_dump_json(), window_s or self._window],
        )

    async def reachable(self, timeout_s: float = 3.0) -> bool:
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), timeout_s))
        except (redis.RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)
