"""Ordered delivery to one socket: replay from the log, then live events, each exactly once.

The feed offers live events as they are read; a delivery queues them (bounded in events and
in bytes) while it replays the log from the client's position up to where the feed took over,
then drains the queue. Offsets only move forward per socket, so an event both replayed and
offered live is sent once. In ack mode, sent events are kept until the client acknowledges
their cursor and re-sent with backoff meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol

from tidewire_edge.rooms import deletion, event_rooms, left_room, socket_event
from tidewire_edge.settings import EdgeSettings
from tidewire_edge.sizes import event_bytes
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log import EventsLog
from tidewire_platform.metrics import (
    EDGE_ACKED,
    EDGE_CUT_OFF,
    EDGE_E2E_LATENCY,
    EDGE_EMITS,
    EDGE_REPLAYED,
    EDGE_RETRIES,
)
from tidewire_platform.publications import PUBLICATION

log = logging.getLogger("tidewire.edge.delivery")

Emit = Callable[[str, tuple[Any, ...], str], Awaitable[None]]  # (event, args, sid)
# The same, without waiting: None (and nothing sent) when the socket's send queue is full,
# else the bytes of them now waiting in that queue (0: written to the connection at once).
EmitNow = Callable[[list["Packet"], str], int | None]  # (packets, sid)
# (company, after offset, until offset) -> events (with their sizes, sizes.py) from memory,
# or None: read the log.
Recent = Callable[[str, int, int], Iterable[tuple[Event, int]] | None]


Packet = tuple[str, tuple[Any, ...]]  # (socket event name, arguments)


class Direct(Protocol):
    """A socket's connection, found once, that an event's packets may be written to at once
    when nothing is ahead of them (emitter.py)."""

    def write(self, packets: list[Packet]) -> bool:
        """Write `packets` now; False (nothing written) when that is not possible now."""
        ...


class Outgoing(Protocol):
    """A live event handed to all of its company's sockets together (fanout.py)."""

    event: Event
    cursor: str
    offset: int
    written: int  # packets written through `Direct`, counted once per event

    @property
    def size(self) -> int: ...

    def whole(self) -> list[Packet]: ...

    def publication(self, namespace: str, rooms: frozenset[str]) -> list[Packet]: ...


# After re-sends in ack mode: the newest cursor sent, as the last argument (see _retry_loop).
POSITION_EVENT = "tidewire:position"


_last: tuple[Event | None, int, list[Packet]] = (None, -1, [])  # see offset_of, whole_event


def offset_of(event: Event) -> int:
    """The event's offset in the log. The feed hands one event to each of its sockets in
    turn, so the last one's is kept: decoded once per event, not once per socket."""
    global _last
    if _last[0] is not event:
        assert event.cursor is not None
        _last = (event, Cursor.decode(event.cursor).offset, [])
    return _last[1]


def whole_event(event: Event) -> list[Packet]:
    """The packets of a socket that gets all of `event`: built once per event (see offset_of)."""
    global _last
    offset_of(event)
    if not _last[2]:
        name, body = socket_event(event)
        _last = (event, _last[1], [(name, (body, event.cursor))])
    return _last[2]


def published_to(event: Event, namespace: str, rooms: frozenset[str]) -> tuple[str, Any] | None:
    """(name, data) of a publication for a socket in `namespace` and `rooms`, or None.
    Socket.IO's broadcast rule: the namespace's sockets in any of the named rooms (all of
    them when none is named), minus those in any of `except`."""
    p = event.payload
    named, excluded = p.get("rooms") or (), p.get("except") or ()
    name = p.get("event")
    if not isinstance(name, str) or p.get("namespace", "/") != namespace:
        return None
    if named and rooms.isdisjoint(named):
        return None
    if excluded and not rooms.isdisjoint(excluded):
        return None
    return name, p.get("data")


@functools.cache
def emits(kind: str) -> Any:
    """The emits counter of one kind (looking a label up costs more than counting)."""
    return EDGE_EMITS.labels(kind)


# The newest live event whose latency was observed, per partition of the log: older ones
# (a socket that sends from its queue after others took newer events) are not observed again.
_observed: dict[int, int] = {}


def observe_latency(event: Event, offset: int) -> None:
    """The accept-to-emit latency, once per live event and node (at its first socket): a
    figure of the event's way here, the same for all its sockets. `offset`: the event's."""
    assert event.cursor is not None
    partition = Cursor.decode(event.cursor).partition
    if offset > _observed.get(partition, -1):
        _observed[partition] = offset
        EDGE_E2E_LATENCY.observe(max(0.0, time.time() - event.accepted_at / 1000))


class _Unacked:
    __slots__ = ("due", "packets", "size", "tries")

    def __init__(self, packets: list[Packet], due: float, size: int) -> None:
        self.packets, self.due, self.size, self.tries = packets, due, size, 0


class Delivery:
    def __init__(
        self,
        sid: str,
        company_id: str,
        emit: Emit,
        cut_off: Callable[[], Coroutine[Any, Any, None]],
        events: EventsLog,
        conf: EdgeSettings,
        acks: bool = False,
        recent: Recent | None = None,
        emit_now: EmitNow | None = None,
        direct: Callable[[str], Direct | None] | None = None,
    ) -> None:
        self.sid = sid
        self.company_id = company_id
        self._emit = emit
        self._emit_now = emit_now
        self._find_direct = direct
        self._direct: Direct | None = None  # found once the delivery is live (see take)
        self._cut_off = cut_off
        self._events = events
        self._conf = conf
        self.acks = acks
        self._recent = recent
        self.last = -1  # offset of the last event sent
        self._sent: tuple[int, str] | None = None  # offset and cursor of the last packet sent
        # The Whaticket rooms this socket receives (rooms.py); None: every event of the company.
        self.rooms: frozenset[str] | None = None
        # Publications (gateway mode): the socket's namespace and every room it is in; the
        # helpdesk's emits are chosen by these. A gateway socket gets publications only.
        self.namespace = "/"
        self.publication_rooms: frozenset[str] = frozenset()
        self.publications_only = False
        self._queue: asyncio.Queue[tuple[Event, int]] = asyncio.Queue(maxsize=conf.socket_buffer)
        self._queued_bytes = 0  # what the events in `_queue` hold (sizes.py)
        self._budget = conf.socket_budget
        self._unacked: dict[int, _Unacked] = {}
        self._unacked_bytes = 0
        self._task: asyncio.Task[None] | None = None
        self._retry: asyncio.Task[None] | None = None
        self._overflowed = False
        self._stopped = False
        self._cutting: asyncio.Task[None] | None = None
        self._acked_some = asyncio.Event()  # set by each ack: a full window may move again
        # Live events go out from `offer` itself (no task switch per socket and event) while
        # the delivery is `_live` (its replay is over), holds nothing (`_queue` empty, no
        # task `_busy` with a packet to write: `_run` with one it took from the queue, the
        # re-sends of `_retry_loop`) and the socket can take it at once; else through
        # `_queue`, in order behind what it holds.
        self._live = False
        self._busy = 0
        # Held while a task writes: the re-sends and their closing `tidewire:position` must
        # not interleave with newer events, or the client's offset moves back.
        self._writing = asyncio.Lock()

    def offer(self, event: Event, size: int | None = None) -> int:
        """A live event of the company, in log order, holding `size` bytes (measured when
        not given). Never blocks the feed. Returns the bytes of it now held in a queue, the
        delivery's or engine.io's (0: written to the connection, or dropped)."""
        if self._overflowed:
            return 0  # cut off already: it recovers from the log
        try:
            if self._live and not self._busy and not self._queue.qsize():
                held = self._send_now(event, size)
                if held is not None:
                    return held
            size = event_bytes(event) if size is None else size
        except Exception:
            # This socket's code runs in the feed's loop here: a failure is this socket's
            # alone, like an overflow (it recovers from the log), never the feed's.
            if not self._stopped:  # else its sid may already be a recovered client's
                log.exception("live send to %s failed", self.sid)
                self._overflow("failed a live send")
            return 0
        # The first event always fits: one larger than the whole budget must still get through.
        if self._queued_bytes and self._queued_bytes + size > self._budget:
            self._overflow("cannot keep up (bytes)")
            return 0
        try:
            self._queue.put_nowait((event, size))
        except asyncio.QueueFull:
            self._overflow("cannot keep up")
            return 0
        self._queued_bytes += size
        return size

    def take(self, out: Outgoing) -> int:
        """`offer` for a live event handed out to the company's sockets together: written at
        once when the delivery is live, holds nothing, and the socket gets the event whole or
        as a publication (the packets are the same for every such socket); else `offer`."""
        if self._overflowed or self._stopped:
            return 0
        offset = out.offset
        if offset <= self.last:
            return 0  # already sent (replay and live overlap)
        direct = self._direct
        if (
            direct is not None
            and not self._busy
            and not self.acks
            and self.rooms is None
            and not self._queue.qsize()
        ):
            if out.event.type == PUBLICATION:
                packets = out.publication(self.namespace, self.publication_rooms)
            else:
                packets = [] if self.publications_only else out.whole()
            if not packets:
                self.last = offset  # nothing for this socket
                return 0
            try:
                written = direct.write(packets)
            except Exception:
                # As in `offer`: this socket's failure alone; it recovers from the log.
                log.exception("live write to %s failed", self.sid)
                self._overflow("failed a live write")
                return 0
            if written:
                self.last = offset
                self._sent = (offset, out.cursor)
                out.written += len(packets)
                return 0
        return self.offer(out.event, out.size)

    def _overflow(self, why: str) -> None:
        """Bounded memory per socket: past it, cut the socket off; it recovers later."""
        if not self._overflowed:
            self._overflowed = True
            EDGE_CUT_OFF.inc()
            log.warning("socket %s %s: cutting it off to recover later", self.sid, why)
            self._cutting = asyncio.get_running_loop().create_task(self._cut_off())

    def start(self, ready: asyncio.Event, replay: bool, after: Cursor | None, until: int) -> None:
        """Replay (after, until) when `replay`, then live events; begins once `ready` is set."""
        self._task = asyncio.create_task(self._run(ready, replay, after, until))

    async def stop(self) -> None:
        """Cancel this delivery's tasks and wait for them. engine.io may run the disconnect
        handler that calls this inside one of those very tasks (a send that finds the client
        gone past its ping timeout closes the socket on the spot): that task is not awaited,
        which would never finish, nor cancelled, which would cut the library's own cleanup
        short; it ends by itself at its next check of `_stopped`."""
        self._stopped = True
        current = asyncio.current_task()
        others = [t for t in (self._task, self._retry) if t is not None and t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _run(
        self, ready: asyncio.Event, replay: bool, after: Cursor | None, until: int
    ) -> None:
        await ready.wait()  # after the CONNECT reply: replayed events follow it
        try:
            if replay and after is not None:
                # The client has everything up to `after`, which may lie past where this
                # node's feed started it (a node behind the log): never send those again.
                self.last = max(self.last, after.offset)
            if replay:
                await self._replay(after, until)
            if self.acks and not self._stopped:
                self._retry = asyncio.create_task(self._retry_loop())
            self._live = self._emit_now is not None
            if self._live and self._find_direct is not None:
                self._direct = self._find_direct(self.sid)
            while not self._stopped:
                event, size = await self._queue.get()
                self._busy += 1
                try:
                    self._queued_bytes -= size
                    await self._send(event, replayed=False, size=size)
                finally:
                    self._busy -= 1
        except asyncio.CancelledError:
            raise
        except Exception:
            if self._stopped:
                return  # the socket is gone; its sid may already be a recovered client's
            log.exception("delivery to %s failed; cutting it off so it recovers", self.sid)
            await self._cut_off()

    async def _replay(self, after: Cursor | None, until: int) -> None:
        if after is not None and self._recent is not None:
            events = self._recent(self.company_id, after.offset, until)
            if events is not None:
                for event, size in events:
                    await self._send(event, replayed=True, size=size)
                return
        cursor = after
        while not self._stopped:  # a dead socket's replay must not hold the node's log reader
            page = await self._events.page(
                self.company_id,
                cursor,
                self._conf.replay_page,
                until,
                max_bytes=self._conf.replay_page_bytes,
            )
            for event in page.events:
                await self._send(event, replayed=True)
            cursor = page.next
            if not page.more:
                return

    async def _send(self, event: Event, replayed: bool, size: int | None = None) -> None:
        if self._stopped:
            return  # the socket is gone (see stop)
        offset = offset_of(event)
        if offset <= self.last:
            return  # already sent (replay and live overlap)
        if self.acks:
            size = event_bytes(event) if size is None else size
            if not await self._window_open(size):
                return
        packets = self._packets(event)
        async with self._writing:  # the window's wait is outside: re-sends go on meanwhile
            for name, args in packets:
                await self._emit(name, args, self.sid)
            self._sent_one(event, offset, packets, size, replayed)

    def _send_now(self, event: Event, size: int | None) -> int | None:
        """`_send` for a live event, if it needs no wait: the bytes of it left waiting in
        engine.io's queue (0: none); None when it would wait (nothing sent)."""
        if self._stopped:
            return 0  # the socket is gone (see stop)
        offset = offset_of(event)
        if offset <= self.last:
            return 0
        if self.acks:
            size = event_bytes(event) if size is None else size
            if self._window_full(size):
                return None
        packets = self._packets(event)
        assert self._emit_now is not None
        held = self._emit_now(packets, self.sid) if packets else 0
        if held is None:
            return None
        self._sent_one(event, offset, packets, size, replayed=False)
        return held

    def _sent_one(
        self, event: Event, offset: int, packets: list[Packet], size: int | None, replayed: bool
    ) -> None:
        """Bookkeeping once `event`'s packets went to the socket."""
        label = PUBLICATION if event.type == PUBLICATION else None
        for name, _ in packets:
            emits(label or name.rsplit("-", 1)[-1]).inc()
        self.last = offset  # also past events not for this socket's rooms
        if not packets:
            return
        assert event.cursor is not None
        self._sent = (offset, event.cursor)
        if self.acks:
            assert size is not None
            due = time.monotonic() + self._conf.ack_retry_s
            self._unacked[offset] = _Unacked(packets, due, size)
            self._unacked_bytes += size
        if replayed:
            EDGE_REPLAYED.inc()
        else:
            observe_latency(event, offset)

    def _packets(self, event: Event) -> list[Packet]:
        """This socket's packets of `event`. Protocol rule (socket.io CSR): the event's
        offset is the last argument of each packet. A socket that gets the whole event shares
        one list with every such socket (the emitter then finds its encoded frame by it)."""
        if self.rooms is None and not self.publications_only and event.type != PUBLICATION:
            return whole_event(event)
        return [(name, (body, event.cursor)) for name, body in self._bodies(event)]

    def _bodies(self, event: Event) -> list[tuple[str, Any]]:
        """What this socket gets of `event`: all of it without rooms, else what its rooms get
        (rooms.py), the old status's `delete` first. A publication goes as it was published
        to the sockets it names."""
        if event.type == PUBLICATION:
            return self._publication(event)
        if self.publications_only:
            return []
        if self.rooms is None:
            return [socket_event(event)]
        bodies = []
        left = left_room(event)
        if left is not None and left in self.rooms:
            bodies.append(deletion(event))
        if not self.rooms.isdisjoint(event_rooms(event)):
            bodies.append(socket_event(event))
        return bodies

    def _publication(self, event: Event) -> list[tuple[str, Any]]:
        found = published_to(event, self.namespace, self.publication_rooms)
        return [] if found is None else [found]

    def _window_full(self, size: int) -> bool:
        if len(self._unacked) >= self._conf.socket_buffer:
            return True
        # The first event always fits: one larger than the whole budget must still go out.
        return bool(self._unacked) and self._unacked_bytes + size > self._budget

    async def _window_open(self, size: int) -> bool:
        """Ack mode: at most `socket_buffer` events and `socket_budget` bytes unacknowledged.
        A full window waits for the client's acks (a replay longer than the window must get
        through to a client that acks as it goes); a client silent for `ack_retry_max_s` is
        cut off and recovers."""
        while self._window_full(size) and not self._stopped:
            self._acked_some.clear()
            try:
                await asyncio.wait_for(self._acked_some.wait(), self._conf.ack_retry_max_s)
            except TimeoutError:
                self._overflow("does not acknowledge")
                return False
        return not self._stopped

    def acked(self, cursor: Cursor) -> int:
        """The client has everything up to `cursor`; returns how many events that settled."""
        done = [o for o in self._unacked if o <= cursor.offset]
        for offset in done:
            self._unacked_bytes -= self._unacked.pop(offset).size
        EDGE_ACKED.inc(len(done))
        if done:
            self._acked_some.set()
        return len(done)

    async def _retry_loop(self) -> None:
        while not self._stopped:
            await asyncio.sleep(min(0.2, self._conf.ack_retry_s / 2))
            now = time.monotonic()
            if not any(item.due <= now for item in self._unacked.values()):
                continue
            # Nothing else writes to the socket meanwhile: live events wait in the queue
            # (`_busy`), and `_sent` stays the newest cursor written until the round ends.
            self._busy += 1
            try:
                async with self._writing:
                    await self._resend_due(now)
            finally:
                self._busy -= 1

    async def _resend_due(self, now: float) -> None:
        """One round of re-sends: the events due, oldest first, then the client's offset put
        back at the newest event sent."""
        last_resent = -1
        for offset in sorted(self._unacked):
            item = self._unacked.get(offset)
            if item is None or item.due > now:
                continue
            item.tries += 1
            delay = min(self._conf.ack_retry_s * 2**item.tries, self._conf.ack_retry_max_s)
            item.due = now + delay
            EDGE_RETRIES.inc()
            for name, args in item.packets:
                await self._emit(name, args, self.sid)
            if self._stopped:
                return  # a re-send found the socket gone (see stop)
            last_resent = offset  # in ascending order: the highest re-sent
        if self._sent is not None and 0 <= last_resent < self._sent[0] and not self._stopped:
            # Protocol rule (socket.io CSR): the client takes the last argument of every
            # event as its offset, so a re-sent older event moved it back, and a recovery
            # would replay events it had acknowledged. One more packet puts it back at
            # the newest event sent (read now: nothing newer is written before it).
            cursor = self._sent[1]
            body = {"action": "position", "cursor": cursor}
            await self._emit(POSITION_EVENT, (body, cursor), self.sid)
