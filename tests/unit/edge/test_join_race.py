"""A join whose ticket check is still running when its socket disconnects must not bring the
session back: not into the node's memory, not into Redis, not into a room.

In-process: python-socketio's real server and the edge's handlers, with Redis, Kafka and
Cassandra replaced by small fakes (a unit test of the ordering, not of the engines)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from tidewire_edge.server import Edge
from tidewire_edge.sessions import Session
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.unit


class _Sessions:
    def __init__(self) -> None:
        self.saved: dict[str, Session] = {}

    async def save(self, session: Session) -> None:
        self.saved[session.pid] = session

    async def take(self, pid: str) -> Session | None:
        return self.saved.pop(pid, None)


class _Feed:
    async def follow(self, partition: int) -> None:
        pass

    def register(self, company: str, partition: int, receiver: Any) -> int:
        return 0

    def unregister(self, company: str, receiver: Any) -> None:
        pass


class _Log:
    epoch = "E"


async def test_join_finishing_after_disconnect_changes_nothing() -> None:
    settings = StackSettings()
    edge = Edge(settings, EdgeSettings())
    sessions = _Sessions()
    edge.sessions, edge.feed, edge.events = sessions, _Feed(), _Log()  # type: ignore[assignment]
    sio = edge.sio
    sio.manager_initialized = True
    published: list[str] = []

    async def publish(data: dict[str, Any]) -> None:
        published.append(data["method"])

    sio.manager._publish = publish  # type: ignore[method-assign]
    sio.on("connect", edge.connect)
    sio.on("disconnect", edge.disconnect)

    async def send(eio_sid: str, wire: Any) -> None:
        pass

    sio.eio.send = send  # type: ignore[method-assign]
    sio.eio.sockets = {"e1": SimpleNamespace(closed=False, session={})}
    answer = asyncio.Event()

    async def owns(company: str, ticket: str) -> bool:
        await answer.wait()  # Cassandra still answering
        return True

    edge.tickets = SimpleNamespace(owns=owns)  # type: ignore[assignment]
    sio.environ["e1"] = {}
    await sio._handle_connect("e1", "/", {"token": issue_token(settings, "acme", "u1")})
    (sid,) = edge.live
    pid = edge.live[sid].pid
    join = asyncio.create_task(edge.join(sid, "ChatBox", "t1", False))
    for _ in range(5):
        await asyncio.sleep(0)  # the join is now waiting on the ticket check
    await sio._handle_eio_disconnect("e1", "client disconnect")
    sessions.saved.clear()  # the session expires, or a reconnect elsewhere took it
    published.clear()
    answer.set()
    assert (await join)["ok"] is False
    assert edge.live == {}
    assert pid not in sessions.saved
    assert "enter_room" not in published
