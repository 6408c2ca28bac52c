"""The SessionStore contract (`tidewire_edge.sessions`), run against every binding.

A binding's class gives a store whose sessions live `WINDOW_S`, and `until_expired`: returns
once a session saved with that window has expired (the memory binding moves its clock; Redis
is polled with a deadline, which fails the test if the key never expires).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

import pytest

from tests.contracts.support import fresh
from tests.support.stack import Stack
from tidewire_edge.sessions import Session, SessionStore
from tidewire_edge.sessions_memory import MemorySessionStore
from tidewire_edge.sessions_redis import RedisSessionStore

WINDOW_S = 1


def _session(pid: str, rooms: list[str] | None = None) -> Session:
    return Session(pid=pid, sid=f"sid-{pid}", company_id="acme", user_id="u1", rooms=rooms or [])


class SessionStoreContract(ABC):
    @pytest.fixture
    @abstractmethod
    async def store(self) -> SessionStore | AsyncIterator[SessionStore]: ...

    @abstractmethod
    async def until_expired(self, store: SessionStore, pid: str) -> None: ...

    async def test_a_saved_session_is_taken_once(self, store: SessionStore) -> None:
        pid = fresh("pid")
        saved = _session(pid, ["ticket:1"])
        await store.save(saved)
        assert await store.exists(pid)
        assert await store.take(pid) == saved
        assert await store.take(pid) is None
        assert not await store.exists(pid)

    async def test_of_concurrent_takes_exactly_one_gets_the_session(
        self, store: SessionStore
    ) -> None:
        pid = fresh("pid")
        await store.save(_session(pid))
        taken = await asyncio.gather(*(store.take(pid) for _ in range(8)))
        assert [t.pid for t in taken if t is not None] == [pid]

    async def test_the_last_save_wins(self, store: SessionStore) -> None:
        pid = fresh("pid")
        await store.save(_session(pid, ["a"]))
        await store.save(_session(pid, ["b"]))
        taken = await store.take(pid)
        assert taken is not None
        assert taken.rooms == ["b"]

    async def test_touch_never_brings_back_a_taken_session(self, store: SessionStore) -> None:
        pid, other = fresh("pid"), fresh("pid")
        await store.save(_session(pid))
        await store.take(pid)
        await store.touch([pid, other])
        assert not await store.exists(pid)
        assert not await store.exists(other)

    async def test_release_marks_the_session_as_saved_dropped(self, store: SessionStore) -> None:
        pid = fresh("pid")
        saved = _session(pid, ["ticket:1"])
        await store.save(saved)
        await store.release(saved)
        taken = await store.take(pid)
        assert taken == saved.model_copy(update={"dropped": True})

    async def test_release_never_brings_back_a_taken_session(self, store: SessionStore) -> None:
        pid = fresh("pid")
        saved = _session(pid)
        await store.save(saved)
        await store.take(pid)
        await store.release(saved)
        assert not await store.exists(pid)

    async def test_release_leaves_a_session_saved_since_by_another_connection(
        self, store: SessionStore
    ) -> None:
        """A disconnect that comes late (its client already recovered elsewhere) must not
        mark the newer connection's session dropped, nor put its own back over it."""
        pid = fresh("pid")
        old = _session(pid, ["a"])
        newer = old.model_copy(update={"rooms": ["a", "b"], "node": "other"})
        await store.save(old)
        await store.take(pid)
        await store.save(newer)
        await store.release(old)
        assert await store.take(pid) == newer

    async def test_a_released_session_expires_after_its_window(self, store: SessionStore) -> None:
        pid = fresh("pid")
        saved = _session(pid)
        await store.save(saved)
        await store.release(saved)
        await self.until_expired(store, pid)
        assert await store.take(pid) is None

    async def test_a_session_expires_after_its_window(self, store: SessionStore) -> None:
        pid = fresh("pid")
        await store.save(_session(pid))
        await self.until_expired(store, pid)
        assert await store.take(pid) is None

    async def test_it_answers(self, store: SessionStore) -> None:
        assert await store.reachable()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.unit
class TestMemorySessionStore(SessionStoreContract):
    @pytest.fixture
    async def store(self) -> SessionStore:
        self._clock = _Clock()
        return MemorySessionStore(WINDOW_S, self._clock)

    async def until_expired(self, store: SessionStore, pid: str) -> None:
        self._clock.now += WINDOW_S


@pytest.mark.integration
class TestRedisSessionStore(SessionStoreContract):
    @pytest.fixture
    async def store(self, stack: Stack) -> AsyncIterator[SessionStore]:
        store = RedisSessionStore(stack.settings.redis_url, WINDOW_S, prefix=fresh("contract:"))
        try:
            yield store
        finally:
            await store.close()

    async def until_expired(self, store: SessionStore, pid: str) -> None:
        deadline = time.monotonic() + 5 * WINDOW_S
        while await store.exists(pid):
            assert time.monotonic() < deadline, "the session outlived its window"
            await asyncio.sleep(0.05)
