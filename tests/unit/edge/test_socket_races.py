"""Races between a socket's requests and its leaving, on one node:
- a join whose ticket check is still running when its socket disconnects must not bring the
  session back (not into the node's memory, not into Redis, not into a room);
- a client that leaves while its recovering connect is being planned must not leave its sid
  half-connected: its next recovery gets one delivery, working joins, every event once.

In-process: python-socketio's real server and the edge's handlers, with Redis, Kafka and
Cassandra replaced by their memory bindings (a unit test of the ordering, not of the engines)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from engineio import packet as eio_packet
from prometheus_client import REGISTRY

from tidewire_edge import send_queues
from tidewire_edge.feed_memory import MemoryEventFeed
from tidewire_edge.server import Edge
from tidewire_edge.sessions import Session
from tidewire_edge.sessions_memory import MemorySessionStore
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log_memory import MemoryEventsLog
from tidewire_platform.partitioning import partition_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.unit


class _SlowSessions(MemorySessionStore):
    """The memory store, with Redis answering slowly when asked to: while `gate` is set,
    `take` waits for it."""

    gate: asyncio.Event | None = None

    async def take(self, pid: str) -> Session | None:
        if self.gate is not None:
            await self.gate.wait()
        return await super().take(pid)


class _Clock:
    """Monotonic seconds that move only when the test says so (session expiry)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _engines(edge: Edge, clock: _Clock) -> tuple[_SlowSessions, MemoryEventFeed, MemoryEventsLog]:
    """The edge's engines as memory bindings: acme's partition holds offsets 0..9."""
    events = MemoryEventsLog(StackSettings().partitions, epoch="E")
    for n in range(10):
        events.append_event(_event(f"old{n}"))
    sessions = _SlowSessions(EdgeSettings().recovery_window_s, clock)
    feed = MemoryEventFeed(events)
    edge.engines.sessions, edge.engines.feed, edge.engines.events = sessions, feed, events
    return sessions, feed, events


def _event(event_id: str) -> Event:
    return Event(
        id=event_id,
        type="message.created",
        company_id="acme",
        command_id=f"k-{event_id}",
        occurred_at=1,
        accepted_at=1,
    )


class _Queue(asyncio.Queue[Any]):
    """An engine.io socket's send queue that remembers the event frames put into it."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[str] = []

    def put_nowait(self, item: Any) -> None:
        if isinstance(item, eio_packet.Packet):
            self.frames.append(item.encode())
        super().put_nowait(item)


def _edge(
    monkeypatch: pytest.MonkeyPatch, clock: _Clock | None = None
) -> tuple[Edge, _SlowSessions, MemoryEventFeed, MemoryEventsLog, list[str]]:
    """An edge on memory bindings whose frames are collected by engine.io sid."""
    edge = Edge(StackSettings(), EdgeSettings())
    sessions, feed, events = _engines(edge, clock or _Clock())
    sio = edge.sio
    sio.manager_initialized = True

    async def publish(data: dict[str, Any]) -> None:
        pass

    monkeypatch.setattr(sio.manager, "_publish", publish)
    sio.on("connect", edge.connect)
    sio.on("disconnect", edge.disconnect)
    sent: list[str] = []

    async def send(eio_sid: str, wire: Any) -> None:
        sent.append(eio_sid)

    monkeypatch.setattr(sio.eio, "send", send)
    sio.eio.sockets = {}
    return edge, sessions, feed, events, sent


async def _stop_deliveries(edge: Edge) -> None:
    for delivery in list(edge.sockets.deliveries.values()):
        await delivery.stop()


async def test_leaving_while_a_recovery_is_planned_leaves_nothing_half_connected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock()
    edge, sessions, feed, events, sent = _edge(monkeypatch, clock)
    sio = edge.sio
    settings = StackSettings()
    part = partition_for("acme", settings.partitions)
    await sessions.save(
        Session(
            pid="p",
            sid="S",
            company_id="acme",
            user_id="u1",
            position=Cursor("E", part, 5).encode(),
            node=sio.manager.host_id,
        )
    )
    auth = {
        "token": issue_token(settings, "acme", "u1"),
        "pid": "p",
        "offset": Cursor("E", part, 9).encode(),
    }
    sessions.gate = asyncio.Event()
    sio.environ["e1"] = {}
    first = asyncio.create_task(sio._handle_connect("e1", "/", auth))
    for _ in range(5):
        await asyncio.sleep(0)  # planning: waiting on Redis
    await sio._handle_eio_disconnect("e1", "transport close")
    sessions.gate.set()
    await first
    assert await sessions.exists("p")  # given back for the client's next try
    sessions.gate = None
    for eio in ("e2", "e3"):  # it recovers, drops again, recovers again
        sio.environ[eio] = {}
        sio.eio.sockets[eio] = SimpleNamespace(closed=False, session={}, queue=_Queue())
        await sio._handle_connect(eio, "/", auth)
        for _ in range(5):
            await asyncio.sleep(0)
        assert sio.manager.is_connected("S", "/")
        if eio == "e2":
            clock.now = 100.0
            sio.eio.sockets.pop("e2").closed = True
            await sio._handle_eio_disconnect("e2", "transport close")
            # The drop of e2 restarted the session's window: it counts from the drop.
            assert sessions.expires_at("p") == 100.0 + EdgeSettings().recovery_window_s
    assert feed.registered("acme") == 1  # the company's fan-out
    assert edge.fanouts.members("acme") == 1  # the recovered socket's delivery alone
    sent.clear()
    assert events.append_event(_event("x")) == 10  # live: the feed offers it
    for _ in range(20):
        await asyncio.sleep(0)
    assert sent == []
    frames = sio.eio.sockets["e3"].queue.frames
    assert len(frames) == 1
    assert '"eventId":"x"' in frames[0]
    await _stop_deliveries(edge)


async def test_join_finishing_after_disconnect_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = StackSettings()
    edge = Edge(settings, EdgeSettings())
    clock = _Clock()
    sessions, _, _ = _engines(edge, clock)
    sio = edge.sio
    sio.manager_initialized = True
    published: list[str] = []

    async def publish(data: dict[str, Any]) -> None:
        published.append(data["method"])

    monkeypatch.setattr(sio.manager, "_publish", publish)
    sio.on("connect", edge.connect)
    sio.on("disconnect", edge.disconnect)

    async def send(eio_sid: str, wire: Any) -> None:
        pass

    monkeypatch.setattr(sio.eio, "send", send)
    sio.eio.sockets = {"e1": SimpleNamespace(closed=False, session={}, queue=asyncio.Queue())}
    answer = asyncio.Event()

    async def owns(company: str, ticket: str) -> bool:
        await answer.wait()  # Cassandra still answering
        return True

    monkeypatch.setattr(edge.engines.tickets, "owns", owns)
    sio.environ["e1"] = {}
    await sio._handle_connect("e1", "/", {"token": issue_token(settings, "acme", "u1")})
    (sid,) = edge.sockets.live
    pid = edge.sockets.live[sid].pid
    join = asyncio.create_task(edge.requests.join(sid, "ChatBox", "t1", False))
    for _ in range(5):
        await asyncio.sleep(0)  # the join is now waiting on the ticket check
    await sio._handle_eio_disconnect("e1", "client disconnect")
    clock.now += EdgeSettings().recovery_window_s + 1  # the session expires
    published.clear()
    answer.set()
    assert (await join)["ok"] is False
    assert edge.sockets.live == {}
    assert not await sessions.exists(pid)
    clock.now = 0.0  # had anything saved it again, it would be found now
    assert not await sessions.exists(pid)
    assert "enter_room" not in published


async def _recoverable(edge: Edge, sessions: MemorySessionStore) -> dict[str, Any]:
    """A stored session "p" of acme's u1, an engine.io connection "e1" open, and the auth
    its client reconnects with."""
    settings = StackSettings()
    sio = edge.sio
    await sessions.save(
        Session(pid="p", sid="S", company_id="acme", user_id="u1", node=sio.manager.host_id)
    )
    sio.environ["e1"] = {}
    sio.eio.sockets["e1"] = SimpleNamespace(closed=False, session={}, queue=asyncio.Queue())
    part = partition_for("acme", settings.partitions)
    return {
        "token": issue_token(settings, "acme", "u1"),
        "pid": "p",
        "offset": Cursor("E", part, 9).encode(),
    }


async def test_a_connect_failing_after_registration_unregisters_its_sid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any failure once python-socketio registered the sid (here: the CONNECT reply cannot
    be sent) leaves no sid half-connected, and the recovered session goes back to Redis."""
    edge, sessions, _, _, _ = _edge(monkeypatch)
    sio = edge.sio
    auth = await _recoverable(edge, sessions)

    async def send_fails(eio_sid: str, wire: Any) -> None:
        raise RuntimeError("transport gone")

    sio.eio.send = send_fails  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await sio._handle_connect("e1", "/", auth)
    assert sio.manager.sid_from_eio_sid("e1", "/") is None
    assert not sio.manager.pending_connect.get("/")
    assert await sessions.exists("p")
    await _stop_deliveries(edge)


async def test_a_client_whose_engine_io_queue_stays_full_is_cut_off_not_grown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """engine.io queues without a bound: past the socket buffer, and not draining, the edge
    stops feeding it and closes the transport (the client recovers from the log)."""
    monkeypatch.setattr(send_queues, "DRAIN_S", 0.1)
    edge, _, _, _, _ = _edge(monkeypatch)
    closed: list[list[str] | None] = []

    async def close_transports(eio_sids: list[str] | None = None) -> None:
        closed.append(eio_sids)
        edge.sio.eio.sockets.pop("e1", None)

    edge.sio.close_transports = close_transports  # type: ignore[method-assign]
    edge.sio.manager.eio_sid_from_sid = lambda sid, ns: "e1"  # type: ignore[method-assign]
    backlog = _Queue()
    edge.sio.eio.sockets["e1"] = SimpleNamespace(closed=False, queue=backlog)
    cursor = Cursor("E", 0, 1).encode()
    await edge.emitter.emit("ev", ({"n": 1}, cursor), "S")
    assert len(backlog.frames) == 1
    for _ in range(EdgeSettings().socket_buffer):
        backlog.put_nowait("unsent")
    await edge.emitter.emit("ev", ({"n": 2}, Cursor("E", 0, 2).encode()), "S")
    await edge.emitter.emit("ev", ({"n": 3}, Cursor("E", 0, 3).encode()), "S")
    assert len(backlog.frames) == 1  # nothing more queued
    assert closed == [["e1"]]  # cut off once


@pytest.mark.parametrize("where", ["planning", "connecting"])
async def test_a_passing_failure_closes_the_transport_instead_of_refusing(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """socket.io-client gives up for good after a CONNECT_ERROR, but reconnects by itself
    after a closed transport: a Redis or Kafka hiccup must be the second, and a session taken
    for the client goes back for that retry."""
    edge, sessions, feed, _, sent = _edge(monkeypatch)
    sio = edge.sio
    auth = await _recoverable(edge, sessions)
    closed: list[list[str] | None] = []

    async def close_transports(eio_sids: list[str] | None = None) -> None:
        closed.append(eio_sids)

    async def fails(*args: Any) -> Any:
        raise TimeoutError("Kafka or Redis is slow")

    sio.close_transports = close_transports  # type: ignore[method-assign]
    if where == "planning":
        monkeypatch.setattr(sessions, "take", fails)
    else:
        monkeypatch.setattr(feed, "follow", fails)
    await sio._handle_connect("e1", "/", auth)
    assert sent == []  # no CONNECT_ERROR (nor anything else) went out
    assert closed == [["e1"]]
    assert sio.manager.sid_from_eio_sid("e1", "/") is None
    assert await sessions.exists("p")  # still there for the client's retry


async def test_a_last_event_id_fallback_is_counted_once_as_a_replay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The expired pid that led to the fallback is not counted as a failed recovery too."""
    edge, _, _, _, _ = _edge(monkeypatch)
    sio = edge.sio
    settings = StackSettings()
    part = partition_for("acme", settings.partitions)

    def counts() -> dict[str, float]:
        return {
            o: REGISTRY.get_sample_value("tidewire_edge_recoveries_total", {"outcome": o}) or 0.0
            for o in ("expired", "replayed")
        }

    before = counts()
    sio.environ["e1"] = {}
    sio.eio.sockets["e1"] = SimpleNamespace(closed=False, session={}, queue=asyncio.Queue())
    auth = {
        "token": issue_token(settings, "acme", "u1"),
        "pid": "long-gone",
        "offset": Cursor("E", part, 9).encode(),
        "lastEventId": Cursor("E", part, 5).encode(),
    }
    await sio._handle_connect("e1", "/", auth)
    after = counts()
    assert (after["expired"] - before["expired"], after["replayed"] - before["replayed"]) == (0, 1)
    await _stop_deliveries(edge)


async def test_a_full_engine_io_queue_that_drains_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replay from memory fills engine.io's queue without yielding; a client that takes it
    in is waited for, not cut off."""
    edge, _, _, _, _ = _edge(monkeypatch)
    closed: list[list[str] | None] = []

    async def close_transports(eio_sids: list[str] | None = None) -> None:
        closed.append(eio_sids)

    edge.sio.close_transports = close_transports  # type: ignore[method-assign]
    edge.sio.manager.eio_sid_from_sid = lambda sid, ns: "e1"  # type: ignore[method-assign]
    backlog = _Queue()
    for _ in range(EdgeSettings().socket_buffer):
        backlog.put_nowait("unsent")
    edge.sio.eio.sockets["e1"] = SimpleNamespace(closed=False, queue=backlog)

    async def writer() -> None:  # engine.io's writer, taking packets as the client reads
        while not backlog.empty():
            backlog.get_nowait()
            await asyncio.sleep(0)

    draining = asyncio.create_task(writer())
    await edge.emitter.emit("ev", ({"n": 1}, Cursor("E", 0, 1).encode()), "S")
    await draining
    assert len(backlog.frames) == 1
    assert closed == []
