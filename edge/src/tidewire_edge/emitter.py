"""Sending to this node's sockets: encoded packets kept for the next sockets, engine.io's
unbounded send queue bounded from outside, and cutting a socket off (it then recovers).
"""

from __future__ import annotations

from collections.abc import Callable
from sys import getsizeof
from typing import Any

from cachetools import LRUCache
from socketio import packet

from tidewire_edge.expiry import REAUTH_EVENT
from tidewire_edge.node import LocalSockets
from tidewire_edge.recovery import RecoveringServer
from tidewire_edge.send_queues import SendQueues
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.metrics import EDGE_CUT_OFF, EDGE_MEMORY, EDGE_TOKEN_EXPIRIES


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
        self._wire: LRUCache[tuple[str, str, Any], str] = LRUCache(
            maxsize=settings.wire_budget, getsizeof=getsizeof
        )
        self._send_queues = SendQueues(
            sio.eio.sockets, settings.socket_buffer, settings.socket_budget
        )
        self.received: set[str] = set()  # sids sent an event: their sessions are worth keeping

    async def emit(self, name: str, args: tuple[Any, ...], sid: str) -> None:
        """Send one event to one local socket. The Socket.IO packet of an event is the same
        for every socket (its cursor is the last argument), so it is encoded once and kept
        for the next sockets; engine.io then only frames it."""
        body = args[0]
        ns = self._sockets.namespace(sid)
        # One event may make two packets (rooms.deletion): the action tells them apart.
        action = body.get("action") if isinstance(body, dict) else None
        key = (ns, args[-1], action if isinstance(action, str) else None)
        wire = self._wire.get(key)
        if wire is None:
            # binary=False: events come from JSON, so they hold no bytes; it spares the
            # library's recursive walk of the payload looking for attachments.
            pkt = self._sio.packet_class(
                packet.EVENT, data=[name, *args], namespace=ns, binary=False
            )
            wire = pkt.encode()
            if getsizeof(wire) <= self._wire.maxsize:  # else too large to keep
                self._wire[key] = wire
                EDGE_MEMORY.labels("wire").set(self._wire.currsize)
        if self._expired(sid):
            return  # its token expired: nothing more for it (it recovers with a new one)
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, ns)
        if eio_sid is None:
            return
        sock = self._sio.eio.sockets.get(eio_sid)
        if sock is None or sock.closed:
            return
        self.received.add(sid)
        size = getsizeof(wire)
        queues = self._send_queues
        if not queues.fits(eio_sid, sock, size) and not await queues.drains(eio_sid, sock, size):
            # engine.io's own send queue has no bound: a client that reads slower than we
            # send (a slow link, a long-polling client) would grow it without end. Past the
            # same bounds as the delivery's queue (packets, bytes), for longer than a healthy
            # client needs to take it in, it is cut off and recovers from the log.
            EDGE_CUT_OFF.inc()
            await self.cut_off(sid)
            return
        await self._sio.eio.send(eio_sid, wire)
        queues.sent(eio_sid, size)

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
