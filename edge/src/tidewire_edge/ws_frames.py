"""Writing an event's WebSocket frame, built once, straight to each socket's connection.

Every recipient of an event gets the same bytes (its cursor is the event's offset, not a
per-socket counter), so its WebSocket frame can be built once too: a server's frames are not
masked, and the edge negotiates no compression. Per socket, that leaves a write.
python-engineio instead hands each packet to the socket's writer task (woken through its
queue, with an `asyncio.wait_for` Task per wait), which passes it through the ASGI server,
which frames it again for each socket. No library lets an application write a prebuilt frame
(socket.io's Node server does it itself: `wsPreEncodedFrame`), so this module reaches into the
internals of two libraries, at the versions in `CHECKED` (tests/unit/edge/test_ws_frames.py
fails when they change; other versions get engine.io's queue only):

- python-engineio's `AsyncSocket`: `poll` (the websocket writer's wait for packets; replaced by
  one that tells when the writer waits on an empty queue, and makes no Task per wait),
  `_upgrade_websocket` (where the connection's ASGI `send` is seen), and its `upgraded`,
  `upgrading`, `closing`, `closed` and `queue`;
- uvicorn's websockets-sansio protocol, whose bound method that `send` is: its `transport`,
  `writable` (cleared while the transport holds more than its high-water mark), `close_sent`,
  `disconnected` and `conn.extensions`.

A frame is written directly only when nothing can be ahead of it nor in the middle of being
written: the socket is upgraded to WebSocket, engine.io's queue is empty and its writer waits
on that queue (so it holds no packet it took), and the connection is open, uncompressed and
below its high-water mark. Else the packet goes through engine.io's queue as before: its own
packets (the CONNECT reply, pings, acks, CLOSE) keep their order with ours, a slow reader's
packets wait in the queue the edge bounds (send_queues.py), and long-polling clients are served
as before. Any other ASGI server gets the queue only.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import Transport
from importlib.metadata import version
from typing import Any

from engineio import exceptions
from engineio.async_socket import AsyncSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

log = logging.getLogger("tidewire.edge.ws_frames")

# The versions whose internals this module was written against (see the module's doc).
CHECKED = {"python-engineio": "4.15.1", "uvicorn": "0.54.0", "websockets": "17.4"}


def installed() -> dict[str, str]:
    return {name: version(name) for name in CHECKED}


SUPPORTED = installed() == CHECKED
if not SUPPORTED:
    log.warning(
        "direct WebSocket writes are off: checked against %s, installed %s", CHECKED, installed()
    )


def text_frame(text: str) -> bytes:
    """The WebSocket frame a server sends for one text message: final, unmasked, uncompressed."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def text_frame_of(payload: bytes) -> bytes:
    """`text_frame` of a text already encoded as UTF-8 (RFC 6455, 5.2: FIN and the text
    opcode, then the length in 7, 7+16 or 7+64 bits, no mask). Written here because
    websockets' `Frame.serialize` (general: masks, extensions, checks) cost as much as
    encoding the event's JSON; tests compare the two."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 0x10000:
        head = b"\x81\x7e" + n.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + n.to_bytes(8, "big")
    return head + payload


class Connection:
    """A socket's WebSocket connection, as uvicorn's websockets-sansio protocol holds it."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self.protocol = protocol

    def transport(self) -> Transport | None:
        """The transport, if a frame may be written to it now: open and not over its
        high-water mark (past it, packets wait in engine.io's bounded queue instead)."""
        protocol = self.protocol
        if protocol.close_sent or protocol.disconnected or not protocol.writable.is_set():
            return None
        transport = protocol.transport
        return None if transport.is_closing() else transport


def connection(send: Any) -> Connection | None:
    """The connection behind an ASGI `send`, if it is one frames can be written to."""
    protocol = getattr(send, "__self__", None)
    if type(protocol) is not WebSocketsSansIOProtocol or protocol.conn.extensions:
        return None
    return Connection(protocol)


class FramedSocket(AsyncSocket):  # type: ignore[misc]
    """engine.io's socket, telling when its writer waits on an empty queue, and knowing its
    WebSocket connection once upgraded."""

    tw_connection: Connection | None = None
    tw_waiting = False  # a poll waits on the empty queue: it took no packet

    async def poll(self) -> list[Any]:
        """engine.io's `poll` (the packets to send, all that are queued, [] once the queue
        ends with None; QueueEmpty after a ping interval and timeout without any), with a
        timeout instead of a Task per wait, and `tw_waiting` set while it waits. It is clear
        again in the step that takes the packet, so a packet is never out of the queue and
        unwritten while `tw_waiting` says the writer holds nothing."""
        queue = self.queue
        if queue.empty():
            self.tw_waiting = True
            try:
                async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                    first = await queue.get()
            except (TimeoutError, asyncio.CancelledError):
                raise exceptions.QueueEmpty() from None
            finally:
                self.tw_waiting = False
        else:
            first = queue.get_nowait()
        queue.task_done()
        if first is None:
            return []
        packets = [first]
        while not queue.empty():
            pkt = queue.get_nowait()
            queue.task_done()
            if pkt is None:
                queue.put_nowait(None)  # the end, for the next poll
                break
            packets.append(pkt)
        return packets

    async def _upgrade_websocket(self, environ: dict[str, Any]) -> Any:
        if not self.upgraded:  # else engine.io refuses the second upgrade
            self.tw_connection = connection(environ.get("asgi.send"))
        return await super()._upgrade_websocket(environ)


def adopt(sock: Any) -> None:
    """Make a new engine.io socket a `FramedSocket`: at engine.io's `connect` event, before
    anything polls it."""
    if SUPPORTED and type(sock) is AsyncSocket:
        sock.__class__ = FramedSocket


def transport_for(sock: Any) -> Transport | None:
    """Where a prebuilt frame for engine.io socket `sock` may be written now, with nothing
    ahead of it; None: through engine.io's queue."""
    conn = sock.tw_connection if type(sock) is FramedSocket else None
    if (
        conn is None
        or not sock.tw_waiting
        or sock.queue.qsize()
        or not sock.upgraded
        or sock.upgrading
        or sock.closed
        or sock.closing  # its disconnect handler runs: a cut-off or expired socket gets no more
    ):
        return None
    return conn.transport()
