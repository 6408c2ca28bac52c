"""Per-socket delivery: order, exactly once across replay and live, bounded buffers, acks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidewire_edge.delivery import Delivery
from tidewire_edge.rooms import event_rooms, left_room
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log_memory import MemoryEventsLog

pytestmark = pytest.mark.unit


def _event(offset: int) -> Event:
    return Event(
        id=f"e{offset}",
        type="message.created",
        company_id="c",
        ticket_id="t",
        command_id=f"k{offset}",
        occurred_at=1,
        accepted_at=1,
        payload={"message": {"body": f"m{offset}"}},
        cursor=Cursor("epoch", 0, offset).encode(),
    )


def _log() -> MemoryEventsLog:
    """The log holds offsets 0..11 of company c (one partition)."""
    log = MemoryEventsLog(partitions=1, epoch="epoch")
    for offset in range(12):
        assert log.append_event(_event(offset)) == offset
    return log


class Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []
        self.cut = asyncio.Event()
        self.cuts = 0

    async def emit(self, name: str, args: tuple[Any, ...], sid: str) -> None:
        self.sent.append((name, args))

    async def cut_off(self) -> None:
        self.cuts += 1
        self.cut.set()

    def bodies(self) -> list[str]:
        return [args[0]["message"]["body"] for name, args in self.sent if "message" in args[0]]


async def _until(predicate: Any) -> None:
    """Poll `predicate` with a deadline (the sink has no event to wait on)."""
    async with asyncio.timeout(5):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _delivery(sink: Sink, acks: bool = False, recent: Any = None, **conf: Any) -> Delivery:
    return Delivery(
        "sid",
        "c",
        sink.emit,
        sink.cut_off,
        _log(),
        EdgeSettings(**{"replay_page": 3, **conf}),  # pages of 3: replays take several
        acks=acks,
        recent=recent,
    )


async def test_replay_then_live_in_order_without_duplicates() -> None:
    sink = Sink()
    d = _delivery(sink)
    for offset in (7, 8, 9, 10):  # live events from where the feed took over (7), overlap
        d.offer(_event(offset))
    ready = asyncio.Event()
    d.start(ready, replay=True, after=Cursor("epoch", 0, 1), until=8)
    ready.set()
    await _until(lambda: len(sink.sent) >= 9)
    await d.stop()
    assert sink.bodies() == [f"m{o}" for o in range(2, 11)]
    assert all(args[-1] == args[0]["cursor"] for _, args in sink.sent)  # offset last


async def test_a_cursor_ahead_of_the_feed_gets_nothing_it_already_has() -> None:
    """The client read up to 9 elsewhere (the API, a node ahead) and connects to a node
    whose feed took over at 7: live 7..9 are not sent again."""
    sink = Sink()
    d = _delivery(sink)
    for offset in (7, 8, 9, 10, 11):
        d.offer(_event(offset))
    ready = asyncio.Event()
    d.start(ready, replay=True, after=Cursor("epoch", 0, 9), until=7)
    ready.set()
    await _until(lambda: d.last == 11)
    await d.stop()
    assert sink.bodies() == ["m10", "m11"]


async def test_nothing_is_sent_before_the_connect_reply() -> None:
    sink = Sink()
    d = _delivery(sink)
    d.offer(_event(3))
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=3)
    for _ in range(20):
        await asyncio.sleep(0)  # let the delivery task run as far as it can
    assert sink.sent == []
    ready.set()
    await _until(lambda: sink.sent)
    await d.stop()


async def test_a_client_that_cannot_keep_up_is_cut_off_once() -> None:
    sink = Sink()
    d = _delivery(sink, socket_buffer=10)
    for offset in range(25):  # never started: nothing drains the buffer
        d.offer(_event(offset))
    await _until(sink.cut.is_set)
    for offset in range(25, 40):  # still overflowing until the transport is gone
        d.offer(_event(offset))
    for _ in range(20):
        await asyncio.sleep(0)  # let any further cut-off task run
    assert sink.cuts == 1
    assert sink.sent == []


async def test_ack_mode_resends_until_acked() -> None:
    sink = Sink()
    d = _delivery(sink, acks=True, ack_retry_s=0.05, ack_retry_max_s=0.1)
    ready = asyncio.Event()
    ready.set()
    d.start(ready, replay=False, after=None, until=0)
    d.offer(_event(0))
    d.offer(_event(1))
    await _until(lambda: sink.bodies().count("m0") >= 3)
    assert d.acked(Cursor("epoch", 0, 0)) == 1
    seen = sink.bodies().count("m0")
    await _until(lambda: sink.bodies().count("m1") >= seen + 3)
    assert sink.bodies().count("m0") == seen  # settled: no more re-sends
    assert d.acked(Cursor("epoch", 0, 1)) == 1
    await d.stop()


async def test_a_client_that_never_acks_is_cut_off_not_remembered_for_ever() -> None:
    sink = Sink()
    d = _delivery(sink, acks=True, socket_buffer=10, ack_retry_s=60, ack_retry_max_s=0.2)
    ready = asyncio.Event()
    ready.set()
    d.start(ready, replay=False, after=None, until=0)
    for offset in range(8):
        d.offer(_event(offset))
    await _until(lambda: d.last == 7)
    assert not sink.cut.is_set()  # unacked, but within the socket's bound
    for offset in range(8, 12):
        d.offer(_event(offset))
    await _until(sink.cut.is_set)
    assert d.last == 9  # nothing sent past the window
    await d.stop()


async def test_a_replay_longer_than_the_window_reaches_a_client_that_acks_as_it_goes() -> None:
    """49 missed events, a window of 10: the replay waits for acks instead of cutting off a
    client that acknowledges promptly (it would reconnect into the same cut-off for ever)."""
    sink = Sink()
    d = _delivery(
        sink,
        acks=True,
        recent=lambda company, after, until: [(_event(o), 500) for o in range(after + 1, until)],
        socket_buffer=10,
        ack_retry_s=60,
        ack_retry_max_s=2,
    )

    async def client_acks() -> None:
        acked = 0
        while acked < 49:
            await asyncio.sleep(0.005)
            if len(sink.sent) > acked:
                acked = len(sink.sent)
                d.acked(Cursor.decode(sink.sent[-1][1][-1]))

    acking = asyncio.create_task(client_acks())
    ready = asyncio.Event()
    ready.set()
    d.start(ready, replay=True, after=Cursor("epoch", 0, 0), until=50)
    await _until(lambda: sink.bodies()[-1:] == ["m49"])
    await acking
    assert sink.bodies() == [f"m{o}" for o in range(1, 50)]
    assert sink.cuts == 0
    await d.stop()


def _on_ticket(offset: int, ticket: str, status: str, old: str | None = None) -> Event:
    event = _event(offset)
    payload: dict[str, Any] = {
        "message": {"body": f"m{offset}"},
        "ticket": {"id": ticket, "status": status},
    }
    if old is not None:
        payload["oldStatus"] = old
    kind = "message.created" if old is None else "ticket.updated"
    return event.model_copy(update={"ticket_id": ticket, "payload": payload, "type": kind})


def _actions(sink: Sink) -> list[tuple[str, object]]:
    return [
        (
            body.get("ticketId") or (body.get("message") or body["ticket"]).get("body"),
            body["action"],
        )
        for _, (body, _cursor) in sink.sent
    ]


def test_event_rooms_follow_whaticket() -> None:
    moved = _on_ticket(1, "t1", "open", old="pending")
    assert event_rooms(moved) == {
        "company-c-ticket-t1",
        "company-c-open",
        "company-c-notification",
    }
    assert left_room(moved) == "company-c-pending"
    assert left_room(_on_ticket(2, "t1", "open", old="open")) is None
    assert left_room(_on_ticket(3, "t1", "open")) is None


def _live_in(sink: Sink, *rooms: str) -> Delivery:
    """A started delivery of live events (from offset 10) for a socket in `rooms`."""
    d = _delivery(sink)
    d.rooms = frozenset(rooms)
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=10)
    ready.set()
    return d


async def test_a_socket_in_rooms_gets_only_what_its_rooms_get() -> None:
    sink = Sink()
    d = _live_in(sink, "company-c-ticket-t1", "company-c-closed")
    for event in (
        _on_ticket(10, "t1", "pending"),  # its ticket
        _on_ticket(11, "t2", "pending"),  # another ticket, another status
        _on_ticket(12, "t2", "closed"),  # another ticket, its status
        _on_ticket(13, "t3", "open", old="closed"),  # left its status: Whaticket's delete
        _on_ticket(14, "t3", "open", old="pending"),  # nothing of its rooms
    ):
        d.offer(event)
    await _until(lambda: d.last == 14)
    assert _actions(sink) == [("m10", "create"), ("m12", "create"), ("t3", "delete")]
    d.rooms = None  # no Whaticket room: every event of the company, as it is
    d.offer(_on_ticket(15, "t3", "closed", old="open"))
    await _until(lambda: d.last == 15)
    assert _actions(sink)[-1][1] == "update"
    await d.stop()


async def test_the_old_status_gets_delete_and_the_notification_room_update() -> None:
    sink = Sink()
    d = _live_in(sink, "company-c-pending", "company-c-notification")
    d.offer(_on_ticket(10, "t1", "open", old="pending"))
    await _until(lambda: d.last == 10)
    assert [body["action"] for _, (body, _c) in sink.sent] == ["delete", "update"]
    assert {cursor for _, (_b, cursor) in sink.sent} == {Cursor("epoch", 0, 10).encode()}
    await d.stop()


@pytest.mark.parametrize("acks", [False, True])
async def test_a_send_that_closes_the_socket_ends_the_delivery(acks: bool) -> None:
    """engine.io closes a socket past its ping timeout inside the send, and runs the
    disconnect handler (which stops the delivery) in the sending task itself: stopping must
    neither wait for that task nor leave it running."""
    sink = Sink()
    d = _delivery(sink, acks=acks, ack_retry_s=0.05)
    stops: list[int] = []  # how many packets had been sent when stop() returned

    async def emit_then_close(name: str, args: tuple[Any, ...], sid: str) -> None:
        sink.sent.append((name, args))
        if len(sink.sent) == (3 if acks else 1):  # with acks: on a re-send of event 1
            async with asyncio.timeout(2):  # the handler, inline, in this very task
                await d.stop()
            stops.append(len(sink.sent))

    d._emit = emit_then_close
    d.offer(_event(1))
    d.offer(_event(2))
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=1)
    ready.set()
    await _until(lambda: stops and d._task is not None and d._task.done())
    await _until(lambda: d._retry is None or d._retry.done())
    assert len(stops) == 1
    d.offer(_event(3))
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert len(sink.sent) == stops[0]  # nothing more to a socket that is gone, not even
    # the rest of a round of re-sends


async def test_resends_leave_the_clients_offset_at_the_newest_event() -> None:
    """socket.io-client takes every event's last argument as its offset: a re-send of an
    older event must be followed by a packet carrying the newest cursor again, or a recovery
    would replay events the client acknowledged."""
    sink = Sink()
    d = _delivery(sink, acks=True, ack_retry_s=0.05, ack_retry_max_s=1.0)
    ready = asyncio.Event()
    ready.set()
    d.start(ready, replay=False, after=None, until=0)
    d.offer(_event(0))
    await _until(lambda: sink.bodies().count("m0") >= 2)  # 0's next re-send is 0.1 s away
    d.offer(_event(1))  # re-sent every 0.05 s at first: a round will re-send 0 alone
    await _until(lambda: any(name == "tidewire:position" for name, _ in sink.sent))
    await d.stop()
    names = [name for name, _ in sink.sent]
    at = names.index("tidewire:position")
    assert sink.sent[at][1][-1] == _event(1).cursor  # back at the newest event sent
    assert sink.sent[at - 1][1][-1] == _event(0).cursor  # right after 0 was re-sent


async def test_a_socket_that_cannot_keep_up_is_cut_off_by_bytes_before_events() -> None:
    """Far below the event bound (2,000), a few large events fill the byte budget: the
    socket is cut off (it recovers from the log) instead of holding them all."""
    sink = Sink()
    budget = 256 * 1024
    d = _delivery(sink, socket_buffer_bytes=budget)
    big = 50 * 1024
    for offset in range(20):  # the delivery has not started: nothing leaves its queue
        d.offer(_event(offset), size=big)
    await _until(lambda: sink.cuts == 1)
    assert d._queued_bytes <= budget
    assert d._queue.qsize() == budget // big


async def test_one_event_larger_than_the_byte_budget_still_gets_through() -> None:
    sink = Sink()
    d = _delivery(sink, socket_buffer_bytes=64 * 1024)
    d.offer(_event(3), size=10 * 1024**2)
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=3)
    ready.set()
    await _until(lambda: d.last == 3)
    await d.stop()
    assert (sink.bodies(), sink.cuts) == (["m3"], 0)


async def test_the_ack_window_is_bounded_in_bytes() -> None:
    """Ack mode keeps sent events until acknowledged: at most `socket_buffer_bytes` of them,
    then it waits for acks."""
    sink = Sink()
    d = _delivery(sink, acks=True, socket_buffer_bytes=128 * 1024, ack_retry_s=30)
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=0)
    ready.set()
    for offset in range(5):
        d.offer(_event(offset), size=40 * 1024)
        for _ in range(5):
            await asyncio.sleep(0)
    await _until(lambda: len(sink.sent) == 3)
    for _ in range(20):
        await asyncio.sleep(0)
    assert sink.bodies() == ["m0", "m1", "m2"]  # 3 x 40 KiB fit, the 4th waits
    d.acked(Cursor("epoch", 0, 1))
    await _until(lambda: len(sink.sent) == 5)
    await d.stop()
    assert sink.bodies() == ["m0", "m1", "m2", "m3", "m4"]
    assert sink.cuts == 0


class DirectSink(Sink):
    """A sink that also takes live events without waiting while `room` is set (the engine.io
    queue has room), as the edge's emitter does."""

    def __init__(self) -> None:
        super().__init__()
        self.room = True
        self.direct = 0  # packets taken without waiting

    def emit_now(self, packets: list[tuple[str, tuple[Any, ...]]], sid: str) -> int | None:
        if not self.room:
            return None
        self.sent.extend(packets)
        self.direct += len(packets)
        return 0


async def test_live_events_sent_without_waiting_keep_order_rooms_and_acks() -> None:
    """A socket in a room, with acks pending, gets each live event once and in order,
    whether it goes out from `offer` at once or through the queue when the socket is full,
    and an event offered while older ones are still queued waits behind them."""
    sink = DirectSink()
    d = Delivery(
        "sid",
        "c",
        sink.emit,
        sink.cut_off,
        _log(),
        EdgeSettings(),
        acks=True,
        emit_now=sink.emit_now,
    )
    d.rooms = frozenset(event_rooms(_event(1)))
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=1)
    ready.set()
    await _until(lambda: d._live)
    d.offer(_event(1))
    d.offer(_event(2))
    assert sink.bodies() == ["m1", "m2"]  # at once, from offer itself
    sink.room = False  # the socket's queue is full: these wait in the delivery's queue
    d.offer(_event(3))
    d.offer(_event(4))
    sink.room = True
    d.offer(_event(5))  # must not overtake 3 and 4
    d.offer(_event(2))  # already sent
    await _until(lambda: d.last == 5)
    d.offer(_event(6))
    await d.stop()
    assert sink.bodies() == ["m1", "m2", "m3", "m4", "m5", "m6"]
    assert sink.direct == 3  # 1, 2 and 6
    assert d.acked(Cursor("epoch", 0, 4)) == 4
    assert d.acked(Cursor("epoch", 0, 6)) == 2


async def test_a_live_send_that_raises_cuts_that_socket_off_not_the_feed() -> None:
    """`offer` runs this socket's sending code in the feed's loop: an exception there is
    this socket's failure (it is cut off and recovers from the log), never the feed's."""
    sink = DirectSink()

    def broken(packets: list[tuple[str, tuple[Any, ...]]], sid: str) -> int | None:
        raise RuntimeError("one socket's bug")

    d = Delivery("sid", "c", sink.emit, sink.cut_off, _log(), EdgeSettings(), emit_now=broken)
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=1)
    ready.set()
    await _until(lambda: d._live)
    d.offer(_event(1))  # raised out of offer into the feed's loop before
    await _until(lambda: sink.cuts == 1)
    d.offer(_event(2))  # cut off: nothing more until it recovers
    await d.stop()
    assert (sink.cuts, sink.sent) == (1, [])


async def test_a_live_event_never_lands_between_resends_and_their_position() -> None:
    """A round of re-sends ends with `tidewire:position` at the newest cursor sent. While
    that packet waits for room in a full socket, a live event offered must wait behind it:
    sent at once from `offer`, it landed before a position naming an older cursor, and the
    client's offset moved back."""
    sink = DirectSink()
    gate = asyncio.Event()
    waiting: list[str] = []

    async def emit(name: str, args: tuple[Any, ...], sid: str) -> None:
        if name == "tidewire:position" and not gate.is_set():
            waiting.append(args[-1])  # the socket's queue is full: it waits for room
            await gate.wait()
        sink.sent.append((name, args))

    d = Delivery(
        "sid",
        "c",
        emit,
        sink.cut_off,
        _log(),
        EdgeSettings(ack_retry_s=0.05, ack_retry_max_s=5.0),
        acks=True,
        emit_now=sink.emit_now,
    )
    ready = asyncio.Event()
    d.start(ready, replay=False, after=None, until=0)
    ready.set()
    await _until(lambda: d._live)
    d.offer(_event(0))
    d.offer(_event(1))
    d._unacked[1].due = float("inf")  # only 0 is re-sent: a position must follow
    await _until(lambda: bool(waiting))
    d.offer(_event(2))
    gate.set()
    await _until(lambda: "m2" in sink.bodies())
    await _until(lambda: any(name == "tidewire:position" for name, _ in sink.sent))
    await d.stop()
    offsets = [Cursor.decode(args[-1]).offset for _, args in sink.sent]
    for at, (name, _) in enumerate(sink.sent):
        if name == "tidewire:position":  # the newest cursor written before it, always
            assert offsets[at] == max(offsets[: at + 1]), (at, offsets)
