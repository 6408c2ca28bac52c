"""Sending to this node's sockets: each event's packet built once and written to every
socket, engine.io's unbounded send queue bounded from outside, and cutting a socket off (it
then recovers).

A live event goes out from the feed's own loop (`emit_now`: per socket, a lookup and a write
of the event's WebSocket frame, built once, to the socket's connection, see ws_frames.py; or,
when that is not possible now, a put of the shared packet into engine.io's queue); `emit` is
the same with a wait for room in a full queue (replays, re-sends, and live events behind them).
"""

from __future__ import annotations

from collections.abc import Callable
from sys import getsizeof
from typing import Any

from cachetools import LRUCache
from engineio import packet as eio_packet
from pydantic_core import to_json

from tidewire_edge import ws_frames
from tidewire_edge.expiry import REAUTH_EVENT
from tidewire_edge.node import LocalSockets
from tidewire_edge.recovery import RecoveringServer
from tidewire_edge.send_queues import SendQueues
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.metrics import EDGE_CUT_OFF, EDGE_MEMORY, EDGE_TOKEN_EXPIRIES


class Frame:
    """One event's packet for the sockets of one namespace: its WebSocket frame (written to
    sockets directly), the bytes its text holds (send budgets) and, made when it is first
    queued, its engine.io packet. Most sockets take the frame: the packet, a second copy of
    the text, is then never made."""

    __slots__ = ("_packet", "payload", "size", "wire")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload  # the engine.io packet, encoded (UTF-8)
        self.size = _text_bytes(payload)  # what the packet's text holds, once it is made
        self.wire = ws_frames.text_frame_of(payload)
        self._packet: eio_packet.Packet | None = None

    @property
    def packet(self) -> eio_packet.Packet:
        """The engine.io packet, for engine.io's queue (its writers send its text as is)."""
        if self._packet is None:
            self._packet = eio_packet.Packet(eio_packet.MESSAGE, data=self.payload[1:].decode())
        return self._packet


_EMPTY_STR = getsizeof("")


def _text_bytes(payload: bytes) -> int:
    """Bytes the engine.io packet's text (the payload but its first byte, decoded) will hold:
    one a character when ASCII; else up to four (one emoji makes the whole text four bytes a
    character), so measured on the text itself."""
    if payload.isascii():
        return _EMPTY_STR + len(payload) - 1
    return getsizeof(payload[1:].decode())


def encode_event(ns: str, name: str, args: tuple[Any, ...]) -> bytes:
    """The engine.io packet of a Socket.IO EVENT without ack id nor binary parts, encoded:
    what python-socketio's `Packet.encode` and engine.io's make of it (`4`, `2`, the
    namespace unless the main one, the JSON array), built in one step (the library's two
    packet objects and their string joins were a third of an event's cost on a node).
    Events come from JSON, so they hold no bytes: never a binary packet."""
    head = b"42" if ns == "/" else b"42" + ns.encode() + b","
    return head + to_json([name, *args])


def _frame_size(frame: Frame) -> int:
    """What a kept frame may hold: its payload, its wire frame, and the text of its engine.io
    packet, made once a socket queues it (counted ahead: the cache sizes it only once)."""
    return getsizeof(frame.payload) + len(frame.wire) + frame.size


class DirectSocket:
    """One socket's engine.io socket, found once: its live events' frames are written to its
    connection with a few checks (ws_frames.transport_for), no lookup per event."""

    __slots__ = ("_emitter", "_told", "ns", "sid", "sock")

    def __init__(self, emitter: Emitter, sid: str, ns: str, sock: Any) -> None:
        self._emitter, self.sid, self.ns, self.sock = emitter, sid, ns, sock
        self._told = False  # whether `emitter.received` names it yet

    def write(self, packets: list[tuple[str, tuple[Any, ...]]]) -> bool:
        """Write the packets' frames now; False (nothing written) when something may be
        ahead of them, the connection is over its high-water mark or not a WebSocket, or
        the socket is closed or its token expired: the caller then takes the queue's way."""
        emitter = self._emitter
        if emitter._expired(self.sid):
            return False
        transport = ws_frames.transport_for(self.sock)
        if transport is None:
            return False
        ns = self.ns
        if len(packets) == 1:
            name, args = packets[0]
            transport.write(emitter.frame(ns, name, args).wire)
        else:
            transport.write(b"".join(emitter.frame(ns, n, a).wire for n, a in packets))
        emitter.written += len(packets)
        if not self._told:
            self._told = True
            emitter.received.add(self.sid)
        return True


class Emitter:
    def __init__(
        self,
        sio: RecoveringServer,
        settings: EdgeSettings,
        sockets: LocalSockets,
        expired: Callable[[str], bool],
    ) -> None:
        self._sio = sio
        self._sockets = sockets
        self._expired = expired  # whether a sid's token has expired (expiry.py)
        # (namespace, cursor, action) -> encoded packet, kept for the sockets that still have
        # to get it, within a byte budget
        self._frames: LRUCache[tuple[str, str, Any], Frame] = LRUCache(
            maxsize=settings.wire_budget, getsizeof=_frame_size
        )
        self._wire_memory = EDGE_MEMORY.labels("wire")
        self._last_args: tuple[Any, ...] | None = None  # the last frame built or found
        self._last_ns = ""
        self._last_frame = Frame(b"6")
        self._send_queues = SendQueues(
            sio.eio.sockets, settings.socket_buffer, settings.socket_budget
        )
        self.received: set[str] = set()  # sids sent an event: their sessions are worth keeping
        self.written = 0  # frames written straight to a connection
        self.queued = 0  # packets put into engine.io's queue

    def frame(self, ns: str, name: str, args: tuple[Any, ...]) -> Frame:
        """The engine.io packet of one event for every socket of namespace `ns`: the same for
        all of them, since the event's cursor (its last argument) is no per-socket counter.
        Built once and kept for the next sockets; engine.io caches its encoding in the packet,
        so its writer sends the same text to every socket. python-socketio's own room emit
        shares one engine.io packet between recipients the same way."""
        if args is self._last_args and ns == self._last_ns:  # the same event, next socket
            return self._last_frame
        body = args[0]
        # One event may make two packets (rooms.deletion): the action tells them apart.
        action = body.get("action") if isinstance(body, dict) else None
        key = (ns, args[-1], action if isinstance(action, str) else None)
        frame = self._frames.get(key)
        if frame is None:
            frame = Frame(encode_event(ns, name, args))
            if _frame_size(frame) <= self._frames.maxsize:  # else too large to keep
                self._frames[key] = frame
                self._wire_memory.set(self._frames.currsize)
        self._last_args, self._last_ns, self._last_frame = args, ns, frame
        return frame

    def _socket(self, sid: str, ns: str) -> tuple[str, Any] | None:
        """The engine.io sid and socket to write to, or None: send it nothing."""
        if self._expired(sid):
            return None  # its token expired: nothing more for it (it recovers with a new one)
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, ns)
        if eio_sid is None:
            return None
        sock = self._sio.eio.sockets.get(eio_sid)
        if sock is None or sock.closed:
            return None
        self.received.add(sid)
        return eio_sid, sock

    def _put(self, eio_sid: str, sock: Any, frame: Frame) -> None:
        transport = ws_frames.transport_for(sock)
        if transport is not None:
            transport.write(frame.wire)
            self.written += 1
            return
        # Into engine.io's queue, as `AsyncSocket.send` does after its ping check: that
        # check only closes a client silent past the ping timeout a little sooner than
        # engine.io's own reader does, and costs an await and a log call per packet.
        sock.queue.put_nowait(frame.packet)
        self._send_queues.sent(eio_sid, frame.size)
        self.queued += 1

    def direct(self, sid: str) -> DirectSocket | None:
        """The socket's connection, found once for its live events (`Delivery.take`); None
        when the socket is gone already."""
        ns = self._sockets.namespace(sid)
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, ns)
        sock = self._sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        return None if sock is None else DirectSocket(self, sid, ns, sock)

    def emit_now(self, packets: list[tuple[str, tuple[Any, ...]]], sid: str) -> int | None:
        """Send `packets` to one local socket if its send queue has room for all of them
        now: returns the bytes of them left waiting in engine.io's queue (0: written to the
        connection, or the socket is gone); None (and nothing sent) if there is no room:
        the caller waits through `emit`."""
        ns = self._sockets.namespace(sid)
        target = self._socket(sid, ns)
        if target is None:
            return 0
        eio_sid, sock = target
        frames = [self.frame(ns, name, args) for name, args in packets]
        transport = ws_frames.transport_for(sock)
        if transport is not None:  # nothing ahead of them: written now, in one write
            transport.write(
                frames[0].wire if len(frames) == 1 else b"".join(f.wire for f in frames)
            )
            self.written += len(frames)
            return 0
        queues = self._send_queues
        if len(frames) == 1:
            if not queues.fits(eio_sid, sock, frames[0].size):
                return None
        elif not queues.fits_all(eio_sid, sock, [f.size for f in frames]):
            return None
        for frame in frames:
            self._put(eio_sid, sock, frame)
        return sum(f.size for f in frames)

    async def emit(self, name: str, args: tuple[Any, ...], sid: str) -> None:
        """Send one event to one local socket, waiting for room in its send queue."""
        ns = self._sockets.namespace(sid)
        frame = self.frame(ns, name, args)
        target = self._socket(sid, ns)
        if target is None:
            return
        eio_sid, sock = target
        queues = self._send_queues
        size = frame.size
        if not queues.fits(eio_sid, sock, size) and not await queues.drains(eio_sid, sock, size):
            # engine.io's own send queue has no bound: a client that reads slower than we
            # send (a slow link, a long-polling client) would grow it without end. Past the
            # same bounds as the delivery's queue (packets, bytes), for longer than a healthy
            # client needs to take it in, it is cut off and recovers from the log.
            EDGE_CUT_OFF.inc()
            await self.cut_off(sid)
            return
        if sock.closed:
            return  # closed while it drained
        self._put(eio_sid, sock, frame)

    async def token_expired(self, sid: str) -> None:
        """The socket's token expired: say so, then drop its transport (its session stays
        recoverable for a client that reconnects with a new token)."""
        EDGE_TOKEN_EXPIRIES.inc()
        reason = {"reason": "token expired", "code": "token_expired"}
        ns = self._sockets.namespace(sid)
        await self._sio.emit(REAUTH_EVENT, reason, to=sid, namespace=ns, ignore_queue=True)
        await self.cut_off(sid)

    async def cut_off(self, sid: str) -> None:
        """Close the socket's transport like a network drop: its client recovers."""
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, self._sockets.namespace(sid))
        if eio_sid is not None:
            await self._sio.close_transports([eio_sid])

    def transport_open(self, sid: str) -> bool:
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, self._sockets.namespace(sid))
        sock = self._sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        return sock is not None and not sock.closed
