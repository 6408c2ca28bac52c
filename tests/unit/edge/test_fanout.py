"""A company's sockets handed each live event together (fanout.py): each socket gets every
event once and in order, whether it is written at once or goes the way of `offer`; the
packets are the ones the libraries would build; one socket's failure is its own."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import socketio
from engineio import packet as eio_packet

from tests.unit.edge.test_delivery import _event
from tidewire_edge import wire_json, ws_frames
from tidewire_edge.delivery import Delivery
from tidewire_edge.emitter import Emitter, Frame, encode_event
from tidewire_edge.fanout import Fanout, Fanouts
from tidewire_edge.feed_memory import MemoryEventFeed
from tidewire_edge.node import Engines, LocalSockets
from tidewire_edge.rooms import event_rooms
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log_memory import MemoryEventsLog
from tidewire_platform.metrics import EDGE_E2E_LATENCY, EDGE_EMITS
from tidewire_platform.publications import PUBLICATION

pytestmark = pytest.mark.unit

Packets = list[tuple[str, tuple[Any, ...]]]


def _publication(offset: int, **payload: Any) -> Event:
    return Event(
        id=f"p{offset}",
        type=PUBLICATION,
        company_id="c",
        command_id=f"k{offset}",
        occurred_at=1,
        accepted_at=1,
        payload={"event": "appMessage", "data": {"n": offset}, **payload},
        cursor=Cursor("epoch", 0, offset).encode(),
    )


class Socket:
    """One socket as the delivery sees it: its direct connection (open or not, or raising)
    and the emitter's ways that wait or queue (`emit`, `emit_now`)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, Any]] = []  # (how, body)
        self.open = True  # the connection takes a frame at once
        self.room = True  # engine.io's queue has room
        self.broken = False
        self.cuts = 0
        self.held = 0  # bytes a packet put into engine.io's queue holds there

    def write(self, packets: Packets) -> bool:
        if self.broken:
            raise RuntimeError("one socket's bug")
        if not self.open:
            return False
        self.got.extend(("direct", args[0]) for _, args in packets)
        return True

    def emit_now(self, packets: Packets, sid: str) -> int | None:
        """Into engine.io's queue (`held` bytes each), or None when it is full."""
        if not self.room:
            return None
        self.got.extend(("now", args[0]) for _, args in packets)
        return self.held * len(packets)

    async def emit(self, name: str, args: tuple[Any, ...], sid: str) -> None:
        self.got.append(("queued", args[0]))

    async def cut_off(self) -> None:
        self.cuts += 1

    def bodies(self) -> list[Any]:
        return [b["message"]["body"] if "message" in b else b for _, b in self.got]

    def ways(self) -> list[str]:
        return [how for how, _ in self.got]


async def _live(socket: Socket, **attrs: Any) -> Delivery:
    log = MemoryEventsLog(partitions=1, epoch="epoch")
    d = Delivery(
        "sid",
        "c",
        socket.emit,
        socket.cut_off,
        log,
        EdgeSettings(),
        emit_now=socket.emit_now,
        direct=lambda sid: socket,
    )
    for name, value in attrs.items():
        setattr(d, name, value)
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=1)
    ready.set()
    async with asyncio.timeout(5):
        while not d._live:  # noqa: ASYNC110 - the delivery's task sets it
            await asyncio.sleep(0)
    return d


async def _settled(*deliveries: Delivery) -> None:
    """Until every delivery's queue is drained (its task sends what `offer` queued)."""
    async with asyncio.timeout(5):
        while any(d._queue.qsize() or d._busy for d in deliveries):  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def test_each_socket_gets_every_event_once_in_order_whichever_way_it_goes() -> None:
    plain, roomed, acked = Socket(), Socket(), Socket()
    fanout = Fanout()
    d_plain = await _live(plain)
    d_roomed = await _live(roomed, rooms=frozenset(event_rooms(_event(1))))
    d_acked = await _live(acked, acks=True)
    for d in (d_plain, d_roomed, d_acked):
        fanout.add(d)
    fanout.offer(_event(1))
    plain.open = False  # over its high-water mark: the queue's way...
    plain.room = False  # ...which is full too: the delivery's own queue, in order
    fanout.offer(_event(2))
    plain.open = plain.room = True
    fanout.offer(_event(3))  # must not overtake 2
    fanout.offer(_event(2))  # already sent or queued
    await _settled(d_plain, d_roomed, d_acked)
    fanout.offer(_event(4))
    for d in (d_plain, d_roomed, d_acked):
        await d.stop()
    for socket in (plain, roomed, acked):
        assert socket.bodies() == ["m1", "m2", "m3", "m4"]
    assert plain.ways() == ["direct", "queued", "queued", "direct"]
    assert set(roomed.ways()) == set(acked.ways()) == {"now"}  # rooms, acks: offer's way
    assert len(d_acked._unacked) == 4  # ack mode still keeps what it sent


async def test_a_socket_whose_write_fails_is_cut_off_and_the_others_get_the_event() -> None:
    broken, fine = Socket(), Socket()
    broken.broken = True
    fanout = Fanout()
    d_broken, d_fine = await _live(broken), await _live(fine)
    fanout.add(d_broken)
    fanout.add(d_fine)
    fanout.offer(_event(1))
    fanout.offer(_event(2))
    async with asyncio.timeout(5):
        while not broken.cuts:  # noqa: ASYNC110 - the cut-off runs as a task
            await asyncio.sleep(0)
    await d_broken.stop()
    await d_fine.stop()
    assert (broken.cuts, broken.got) == (1, [])
    assert fine.bodies() == ["m1", "m2"]


async def test_a_publication_reaches_the_sockets_socket_io_would_broadcast_it_to() -> None:
    sockets = {name: Socket() for name in ("a", "b", "ab", "x-a", "none")}
    rooms = {"a": {"a"}, "b": {"b"}, "ab": {"a", "b"}, "x-a": {"a"}, "none": set()}
    fanout = Fanout()
    deliveries = []
    for name, socket in sockets.items():
        d = await _live(
            socket,
            publication_rooms=frozenset(rooms[name]),
            namespace="/x" if name == "x-a" else "/",
            publications_only=True,
        )
        fanout.add(d)
        deliveries.append(d)
    fanout.offer(_publication(1, rooms=["a"]))
    fanout.offer(_publication(2, rooms=["a"], **{"except": ["b"]}))
    fanout.offer(_publication(3))  # the whole namespace
    fanout.offer(_publication(4, namespace="/x"))
    fanout.offer(_event(5))  # platform events never reach a gateway socket
    for d in deliveries:
        await d.stop()
    got = {name: [b["n"] for b in s.bodies()] for name, s in sockets.items()}
    assert got == {"a": [1, 2, 3], "b": [3], "ab": [1, 3], "x-a": [4], "none": [3]}
    assert all(d.last == 5 for d in deliveries)  # nothing for them is no gap either


async def test_packets_written_at_once_are_counted_once_per_packet() -> None:
    counter = EDGE_EMITS.labels(PUBLICATION)
    before = counter._value.get()
    fanout = Fanout()
    deliveries = [await _live(Socket()) for _ in range(3)]
    for d in deliveries:
        fanout.add(d)
    fanout.offer(_publication(1))
    fanout.offer(_publication(2, rooms=["nobody"]))
    for d in deliveries:
        await d.stop()
    assert counter._value.get() - before == 3


async def test_the_feed_registers_a_company_while_it_has_sockets() -> None:
    events = MemoryEventsLog(partitions=1, epoch="epoch")
    feed = MemoryEventFeed(events)
    await feed.follow(0, 1)
    fanouts = Fanouts(Engines(sessions=None, events=events, tickets=None, feed=feed))  # type: ignore[arg-type]
    events.append_event(_event(0))
    first, second = Socket(), Socket()
    d1, d2 = await _live(first), await _live(second)
    assert fanouts.add("c", 0, d1) == 1  # from the next offset on: the feed's own answer
    events.append_event(_event(1))
    assert fanouts.add("c", 0, d2) == 2
    events.append_event(_event(2))
    fanouts.discard("c", d1)
    assert (feed.registered("c"), fanouts.members("c")) == (1, 1)
    events.append_event(_event(3))
    fanouts.discard("c", d2)
    assert (feed.registered("c"), fanouts.members("c")) == (0, 0)
    events.append_event(_event(4))
    await d1.stop()
    await d2.stop()
    assert first.bodies() == ["m1", "m2"]
    assert second.bodies() == ["m2", "m3"]


async def test_no_frame_after_close_transports_took_the_socket() -> None:
    """A socket cut off or expired is closed by `close_transports`: engine.io marks it
    closing and runs its disconnect handler, which forgets its token's expiry and waits on
    Redis before its delivery stops. Live events meanwhile must not reach it (after a
    `tidewire:reauth`, say); the engine.io socket the delivery found once is still open."""
    server = SimpleNamespace(create_queue=asyncio.Queue, ping_interval=5.0, ping_timeout=0)
    sock = ws_frames.FramedSocket(server, "e1")
    sock.upgraded = True
    wire: list[bytes] = []
    sock.tw_connection = SimpleNamespace(  # type: ignore[assignment]
        transport=lambda: SimpleNamespace(write=wire.append)
    )
    writer = asyncio.create_task(sock.poll())  # engine.io's writer, waiting on an empty queue
    async with asyncio.timeout(5):
        while not sock.tw_waiting:  # noqa: ASYNC110
            await asyncio.sleep(0)
    expired: set[str] = set()
    sio: Any = SimpleNamespace(
        eio=SimpleNamespace(sockets={"e1": sock}),
        manager=SimpleNamespace(eio_sid_from_sid=lambda sid, ns: "e1"),
    )
    emitter = Emitter(sio, EdgeSettings(), LocalSockets(), expired=expired.__contains__)
    d = Delivery(
        "s1",
        "c",
        emitter.emit,
        lambda: emitter.cut_off("s1"),
        MemoryEventsLog(partitions=1, epoch="epoch"),
        EdgeSettings(),
        emit_now=emitter.emit_now,
        direct=emitter.direct,
    )
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=1)
    ready.set()
    async with asyncio.timeout(5):
        while not d._live:  # noqa: ASYNC110
            await asyncio.sleep(0)
    fanout = Fanout()
    fanout.add(d)
    fanout.offer(_event(1))
    assert len(wire) == 1  # live: written directly

    # The token expires: `tidewire:reauth`, then close_transports pops the engine.io socket and
    # awaits sock.close(), which marks it closing and runs the disconnect handler; the handler
    # has called clocks.stop(sid) (the expiry is forgotten) and awaits Redis (sessions.touch).
    sio.eio.sockets.pop("e1")
    sock.closing = True
    expired.discard("s1")

    # The way of `offer` in this very state: nothing reaches the socket.
    assert emitter.emit_now([("company-c-appMessage", ({"n": 2}, "x"))], "s1") == 0
    assert len(wire) == 1

    fanout.offer(_event(2))  # a live event of the company meanwhile
    await d.stop()
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    assert len(wire) == 1, "an event was written to a socket being closed (token expired)"


class _EdgePacket(socketio.packet.Packet):  # type: ignore[misc]
    json = wire_json  # as the edge's server sets it (its `json` option)


@pytest.mark.parametrize("ns", ["/", "/workspace-1"])
@pytest.mark.parametrize(
    "body", [{"n": 1}, {"text": "olá 👋 " * 40}, {"text": "x" * 70_000}, {"list": [{}, []]}]
)
def test_a_frame_built_by_hand_is_the_one_the_libraries_build(ns: str, body: Any) -> None:
    args = (body, Cursor("E", 3, 7).encode())
    text = _EdgePacket(socketio.packet.EVENT, data=["ev", *args], namespace=ns).encode()
    payload = encode_event(ns, "ev", args)
    assert payload.decode() == eio_packet.Packet(eio_packet.MESSAGE, data=text).encode()
    frame = Frame(payload)
    assert frame.wire == ws_frames.text_frame(payload.decode())
    assert frame.packet.encode() == payload.decode()


def _observations() -> float:
    for metric in EDGE_E2E_LATENCY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                return sample.value
    raise AssertionError("no count")


async def test_latency_is_observed_once_per_event_and_node() -> None:
    """One socket takes each event at once, another later from its queue: two events, two
    observations (the queued one's late send is not one more)."""
    fast, slow = Socket(), Socket()
    d_fast, d_slow = await _live(fast), await _live(slow)
    fanout = Fanout()
    fanout.add(d_fast)
    fanout.add(d_slow)
    before = _observations()
    slow.open = slow.room = False  # over its high-water mark, engine.io's queue full
    fanout.offer(_event(101))  # fast: at once (observed); slow: its own queue
    slow.open = slow.room = True
    fanout.offer(_event(102))  # fast: at once (observed); slow: behind 101
    await _settled(d_fast, d_slow)
    await d_fast.stop()
    await d_slow.stop()
    assert slow.bodies() == ["m101", "m102"]
    assert _observations() - before == 2


async def test_the_feed_is_told_the_bytes_left_waiting_in_queues() -> None:
    """The feed lets deliveries and engine.io's writers run after handing out so many bytes
    held in queues: written at once holds nothing, engine.io's queue or the delivery's own
    hold bytes."""
    direct, queued, full = Socket(), Socket(), Socket()
    queued.open, queued.held = False, 700  # engine.io's queue: 700 bytes a packet
    full.open = full.room = False  # engine.io's queue full: the delivery's own queue
    fanout = Fanout()
    deliveries = [await _live(s) for s in (direct, queued, full)]
    fanout.add(deliveries[0])
    assert fanout.offer(_event(1)) == 0
    fanout.add(deliveries[1])
    assert fanout.offer(_event(2)) == 700
    fanout.add(deliveries[2])
    held = fanout.offer(_event(3))
    assert held == max(700, deliveries[2]._queued_bytes) > 700  # a decoded event's size
    for d in deliveries:
        await d.stop()
