"""Prebuilt WebSocket frames written straight to a socket's connection (ws_frames.py): the
library internals it relies on, its poll, and, through a real uvicorn server (websockets-sansio,
as the edge is served) in-process with real clients, that every socket still gets every
packet once and in order (engine.io's own packets included), long-polling and upgrading
clients too, and that a client that stops reading is still cut off at its socket's bounds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import socketio
import uvicorn
import websockets
from engineio import exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from websockets.protocol import Protocol, Side, State

from tidewire_edge import send_queues, ws_frames
from tidewire_edge.emitter import Emitter
from tidewire_edge.node import LocalSockets
from tidewire_edge.recovery import RecoveringServer
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.cursor import Cursor

pytestmark = pytest.mark.unit


async def _until(probe: Callable[[], Any], what: str, within: float = 10) -> Any:
    """Poll `probe` (letting the loop run) until it returns something truthy."""
    deadline = time.monotonic() + within
    while not (got := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
    return got


def _cursor(n: int) -> str:
    return Cursor("E", 0, n).encode()


# -- the libraries --------------------------------------------------------------------------


def test_the_libraries_are_the_versions_whose_internals_were_checked() -> None:
    """ws_frames.py relies on internals of python-engineio (AsyncSocket's poll, upgrade and
    flags) and uvicorn's websockets-sansio protocol. A new version may change them: read them
    again (see the module's doc), then update CHECKED. Until then the edge sends through
    engine.io's queue only."""
    assert ws_frames.installed() == ws_frames.CHECKED
    assert ws_frames.SUPPORTED
    for name in ("poll", "_upgrade_websocket", "_websocket_handler", "send", "close"):
        assert callable(getattr(AsyncSocket, name))


@pytest.mark.parametrize(
    "text", ["42", '42["ev",{"n":1},"E:0:1"]', "4" + "é" * 200, "4" + "x" * 70_000]
)
def test_a_prebuilt_frame_is_the_one_the_server_would_send(text: str) -> None:
    server = Protocol(Side.SERVER, state=State.OPEN)
    server.send_text(text.encode())
    assert ws_frames.text_frame(text) == b"".join(server.data_to_send())


def _socket(ping_s: float = 5.0) -> ws_frames.FramedSocket:
    server = SimpleNamespace(create_queue=asyncio.Queue, ping_interval=ping_s, ping_timeout=0)
    return ws_frames.FramedSocket(server, "s")


class _Connection:
    """A connection that can always be written to."""

    def __init__(self) -> None:
        self.wire = SimpleNamespace(write=lambda data: None)

    def transport(self) -> Any:
        return self.wire


async def test_poll_returns_what_is_queued_until_the_end() -> None:
    sock = _socket()
    a, b = eio_packet.Packet(eio_packet.MESSAGE, "a"), eio_packet.Packet(eio_packet.MESSAGE, "b")
    for item in (a, b, None):
        sock.queue.put_nowait(item)
    assert await sock.poll() == [a, b]
    assert await sock.poll() == []  # the end, kept for the next poll
    sock.queue.put_nowait(a)
    waiting = asyncio.create_task(sock.poll())
    assert await waiting == [a]
    with pytest.raises(exceptions.QueueEmpty):
        await _socket(ping_s=0.01).poll()  # nothing within the ping interval and timeout
    await sock.queue.join()  # every packet taken was marked done (engine.io's close waits)


async def test_a_direct_write_never_overtakes_a_packet_queued_or_taken_by_the_writer() -> None:
    """Only a writer waiting on an empty queue holds nothing: a packet in the queue, or one the
    writer took and has not written yet, must go out before a frame written directly."""
    sock = _socket()
    sock.upgraded = True
    conn = _Connection()
    sock.tw_connection = conn  # type: ignore[assignment]
    assert ws_frames.transport_for(sock) is None  # no writer waiting yet
    writer = asyncio.create_task(sock.poll())
    await _until(lambda: sock.tw_waiting, "the writer to wait")
    assert ws_frames.transport_for(sock) is conn.wire
    pkt = eio_packet.Packet(eio_packet.MESSAGE, "engine.io's own")
    sock.queue.put_nowait(pkt)
    assert ws_frames.transport_for(sock) is None  # queued: ours go behind it
    # One step of the loop: the writer has taken the packet (a poll through `wait_for` would
    # have it in an inner task, the writer not yet told), and not written it.
    await asyncio.sleep(0)
    assert sock.queue.empty()
    assert ws_frames.transport_for(sock) is None
    assert await writer == [pkt]
    assert sock.queue.empty()
    assert ws_frames.transport_for(sock) is None  # taken, not written yet: still behind it
    sock.upgrading = True
    writer = asyncio.create_task(sock.poll())
    await _until(lambda: sock.tw_waiting, "the writer to wait")
    assert ws_frames.transport_for(sock) is None  # an upgrade is under way
    writer.cancel()
    with pytest.raises(exceptions.QueueEmpty):  # as engine.io's poll: a cancel ends it
        await writer


# -- a real server --------------------------------------------------------------------------


class _Server(RecoveringServer):
    """The edge's server without its connect planning: a plain Socket.IO connect."""

    _handle_connect = socketio.AsyncServer._handle_connect


class _Node:
    def __init__(self, settings: EdgeSettings) -> None:
        self.sio = _Server(None, None, async_mode="asgi")
        self.emitter = Emitter(self.sio, settings, LocalSockets(), lambda sid: False)
        self.sids: list[str] = []
        self.url = ""

        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            self.sids.append(sid)

        self.sio.on("connect", connect)

    def engine_socket(self, sid: str) -> Any:
        return self.sio.eio.sockets.get(self.sio.manager.eio_sid_from_sid(sid, "/"))

    async def library_emit(self, sid: str, n: int) -> None:
        """An event sent the way python-socketio sends its own packets (CONNECT replies,
        acks, emits): through engine.io's send, into the socket's queue."""
        pkt = socketio.packet.Packet(socketio.packet.EVENT, data=["library", n], namespace="/")
        await self.sio._send_packet(self.sio.manager.eio_sid_from_sid(sid, "/"), pkt)


@contextlib.asynccontextmanager
async def _served(settings: EdgeSettings | None = None) -> AsyncIterator[_Node]:
    """An edge-like node served by uvicorn as the edge is (websockets-sansio, no deflate)."""
    node = _Node(settings or EdgeSettings())
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    node.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config = uvicorn.Config(
        socketio.ASGIApp(node.sio),
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await _until(lambda: server.started or serving.done(), "the server to start")
        yield node
    finally:
        server.should_exit = True
        await serving
        listener.close()


class _Client:
    """A python-socketio client recording every event it gets, in order."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.got: list[tuple[str, Any]] = []
        self.sio.on("*", self._any)

    async def _any(self, name: str, *args: Any) -> None:
        self.got.append((name, args[0]))


async def _connected(node: _Node, transports: list[str]) -> tuple[_Client, str]:
    client = _Client()
    await client.sio.connect(node.url, transports=transports, wait_timeout=10)
    sid = await _until(lambda: node.sids[-1] if node.sids else None, "the connect")
    return client, sid


async def test_direct_frames_keep_their_order_with_engine_ios_own_packets() -> None:
    async with _served() as node:
        client, sid = await _connected(node, ["websocket"])
        sock = node.engine_socket(sid)
        assert type(sock) is ws_frames.FramedSocket
        await _until(lambda: sock.tw_waiting, "the writer to wait")
        # A packet of the library's own goes into engine.io's queue; the event right behind
        # it must not overtake it.
        await node.library_emit(sid, 0)
        assert node.emitter.emit_now([("ev", ({"n": 1}, _cursor(1)))], sid)  # bytes queued
        assert (node.emitter.written, node.emitter.queued) == (0, 1)
        await _until(lambda: len(client.got) == 2, "both")
        await _until(lambda: sock.tw_waiting, "the writer to wait again")
        for n in range(2, 51):  # nothing ahead of them now: written directly
            held = node.emitter.emit_now([("ev", ({"n": n}, _cursor(n)))], sid)
            assert held is not None  # sent; 0 bytes left in the queue when written directly
            if n % 10 == 0:
                await node.library_emit(sid, n)  # interleaved with ours
        await _until(lambda: len(client.got) == 56, "every event")
        assert node.emitter.written > 0
        expected = [("library", 0)] + [
            item
            for n in range(1, 51)
            for item in [("ev", {"n": n})] + ([("library", n)] if n % 10 == 0 else [])
        ]
        assert client.got == expected
        await client.sio.disconnect()


async def test_long_polling_clients_are_served_through_engine_ios_queue() -> None:
    async with _served() as node:
        client, sid = await _connected(node, ["polling"])
        # In batches: python-engineio's client refuses a poll's answer of over 16 packets.
        for first in range(1, 21, 5):
            for n in range(first, first + 5):
                assert node.emitter.emit_now([("ev", ({"n": n}, _cursor(n)))], sid)
            await _until(lambda f=first: len(client.got) == f + 4, "the batch")
        assert client.got == [("ev", {"n": n}) for n in range(1, 21)]
        assert node.emitter.written == 0
        await client.sio.disconnect()


async def test_a_client_that_upgrades_meanwhile_gets_every_event_once_in_order() -> None:
    """A client polls, then upgrades to WebSocket while events keep coming (socket.io-client's
    way; python-socketio's client upgrades before its CONNECT): every event arrives once and
    in order, the first ones through engine.io's queue, the later ones written directly."""
    async with _served() as node:
        base = node.url + "/socket.io/?EIO=4&transport=polling"
        got: list[int] = []

        def take(payload: str) -> None:
            for text in payload.split("\x1e"):
                if text.startswith('42["ev"'):
                    got.append(json.loads(text[2:])[1]["n"])

        async with httpx.AsyncClient(timeout=30) as http:
            opened = json.loads((await http.get(base)).text[1:])
            polling = f"{base}&sid={opened['sid']}"
            await http.post(polling, content="40")
            assert (await http.get(polling)).text.startswith("40")
            sid = node.sids[-1]
            upgraded = asyncio.Event()

            async def produce() -> int:
                n, since = 0, None
                while since is None or n < since + 30:  # 30 more once upgraded
                    n += 1
                    if since is None and upgraded.is_set():
                        since = n
                    await node.emitter.emit("ev", ({"n": n}, _cursor(n)), sid)
                    await asyncio.sleep(0.002)  # the producer's pace: the upgrade comes meanwhile
                return n

            async def poll_until_upgrade() -> None:
                while True:
                    payload = (await http.get(polling)).text
                    take(payload)
                    if "6" in payload.split("\x1e"):  # engine.io ends the last poll with a NOOP
                        return

            producing = asyncio.create_task(produce())
            reading = asyncio.create_task(poll_until_upgrade())
            await _until(lambda: len(got) >= 10, "events through polling")
            ws_url = polling.replace("http", "ws").replace("polling", "websocket")
            async with websockets.connect(ws_url) as ws:
                await ws.send("2probe")
                assert await ws.recv() == "3probe"
                await reading
                await ws.send("5")
                upgraded.set()
                last = await producing
                while not got or got[-1] != last:
                    take(str(await asyncio.wait_for(ws.recv(), 10)))
        assert got == list(range(1, last + 1))
        assert node.emitter.written > 0
        assert node.emitter.queued > 0


async def test_a_client_that_stops_reading_is_cut_off_at_its_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Direct writes stop at the connection's high-water mark; then packets wait in engine.io's
    queue, bounded per socket, and a socket whose queue stays full is cut off. Without that,
    the transport's buffer would grow for as long as events come."""
    monkeypatch.setattr(send_queues, "DRAIN_S", 0.2)
    settings = EdgeSettings(socket_buffer=10, socket_buffer_bytes=64 * 1024)
    async with _served(settings) as node:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", int(node.url.rsplit(":", 1)[1])))
        ws_url = node.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        # A client whose app stops reading: past one unread message it stops taking bytes.
        async with websockets.connect(ws_url, sock=raw, max_queue=1) as client:
            opened = json.loads((await client.recv())[1:])
            await client.send("40")
            assert (await client.recv()).startswith("40")
            sid = node.sio.manager.sid_from_eio_sid(opened["sid"], "/")
            sock = node.engine_socket(sid)
            transport = sock.tw_connection.protocol.transport
            pad = "x" * 8192
            most = 0
            n = 0
            while opened["sid"] in node.sio.eio.sockets:
                n += 1
                assert n < 5000, "never cut off"
                await node.emitter.emit("ev", ({"pad": pad}, _cursor(n)), sid)
                most = max(most, transport.get_write_buffer_size())
            high_water = transport.get_write_buffer_limits()[1]
            assert node.emitter.written > 0
            assert node.emitter.queued > 0
            assert most <= high_water + len(pad) + 100  # past it, nothing more is written
            assert sock.closed
