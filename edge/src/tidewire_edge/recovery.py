"""Socket.IO connection state recovery on python-socketio, which has none of its own.

The wire protocol is socket.io's (v4.6+), so the plain official client recovers:
- the CONNECT reply carries `pid`, a private session id;
- every event the client may miss ends with a string argument, its offset (our cursor);
- a reconnect sends `{pid, offset}` in its CONNECT auth; the client reports
  `recovered === true` when the reply carries the same pid, and keeps the sid it gets back.

Overrides of python-socketio 5.18 (pinned: two are private methods, and all rely on its
packet flow), each with the protocol rule it implements:
- `RecoveringServer._handle_connect` (private): decide, before a sid exists, whether this
  CONNECT recovers a session (the library only lets the connect handler run after the sid was
  made); a passing failure closes the transport instead of a CONNECT_ERROR, because the client
  retries the first and never the second;
- `RecoveringManager.pre_connect`: register the recovered connection under its old sid (a
  recovered socket keeps its `socket.id`);
- `RecoveringServer._send_packet` (private): add `pid` to the CONNECT reply.
One addition: `RecoveringServer.close_transports` closes engine.io transports without a
Socket.IO DISCONNECT, so clients treat it as a network drop and recover (shutdown, slow
clients). Everything else (what to replay, rooms, auth) is the edge's connect handler.
Four more overrides keep the library's behaviour and change only its cost:
`RecoveringManager.basic_enter_room`, `basic_leave_room`, `basic_disconnect` and `get_rooms`
keep an index of each socket's rooms, so a disconnect does not scan every room of the node.
`RecoveringServer._handle_eio_connect` (private) lets each new engine.io socket take prebuilt
WebSocket frames (ws_frames.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from bidict import ValueDuplicationError
from socketio import packet

from tidewire_edge import ws_frames
from tidewire_edge.plans import Plan, Retry
from tidewire_edge.sessions import Session

log = logging.getLogger("tidewire.edge.recovery")


class RetryLater(Exception):
    """A connect failed for a passing reason. The client gets its transport closed, not a
    CONNECT_ERROR: socket.io-client gives up for good on a CONNECT_ERROR, but reconnects by
    itself (with its backoff, pid and offset) after a closed transport."""


Planner = Callable[[Any, dict[str, Any], str], Awaitable[Plan]]  # (auth, environ, namespace)
Unplanned = Callable[[Plan], Awaitable[None]]  # a plan whose connect failed: give back its session


class RecoveringManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chosen_sids: dict[tuple[str, str], str] = {}  # (eio_sid, namespace) -> sid to reuse
        self._rooms_of: dict[tuple[str, str], set[str | None]] = {}  # (namespace, sid) -> rooms

    # The library finds a disconnecting socket's rooms by testing every room of the node (a
    # copy of the whole table per disconnect): with a thousand sockets in three rooms each, a
    # thousand drops cost ~3 million membership tests, ≈ 12 % of a node's CPU in a recovery
    # storm, and it grows with the square of the sockets. Every change of membership goes
    # through the two methods below, so an index of each socket's rooms stays exact.

    def basic_enter_room(
        self, sid: str, namespace: str, room: str | None, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: str | None) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """The library's disconnect bookkeeping, with the socket's rooms from the index."""
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[str]:
        return [r for r in self._rooms_of.get((namespace, sid), ()) if r is not None]

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """Protocol rule: a recovered session keeps its id, so the client's `socket.id` does
        not change. Same registration as the library's, with the old sid instead of a new one."""
        sid = self.chosen_sids.pop((eio_sid, namespace), None)
        if sid is None:
            return await super().pre_connect(eio_sid, namespace)  # type: ignore[no-any-return]
        try:
            self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        except ValueDuplicationError:
            return None  # this engine.io connection is already connected to the namespace
        self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        self.pending_connect.setdefault(namespace, []).append(sid)
        return sid


class RecoveringServer(socketio.AsyncServer):  # type: ignore[misc]
    def __init__(self, planner: Planner, unplanned: Unplanned, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._planner = planner
        self._unplanned = unplanned
        # (eio_sid, namespace) -> plan, while its CONNECT is handled (one connection may
        # connect several namespaces at once: plus's catch-all)
        self.plans: dict[tuple[str, str], Plan] = {}
        self._evictions = asyncio.Semaphore(8)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        """Protocol rule: a CONNECT whose auth has a known `pid` resumes that session."""
        ns = namespace or "/"
        try:
            plan = await self._planner(data, self.environ.get(eio_sid, {}), ns)
        except Exception:
            # The planner turns passing failures into `retry` itself; anything that still
            # escapes must not leave the client waiting for a reply that never comes.
            log.exception("planning a connect failed; closing its transport so it retries")
            await self.close_transports([eio_sid])
            return
        try:
            if isinstance(plan.outcome, Retry):
                raise RetryLater(plan.outcome.reason)
            if plan.session is not None:
                await self._evict(plan.session, ns)
                self.manager.chosen_sids[(eio_sid, ns)] = plan.session.sid
            if eio_sid not in self.environ:
                # The client left while its connect was planned (Redis, Kafka lookups): the
                # library would register the sid, then fail on the missing environ and leave
                # it half-connected for good. Nothing to connect; the session goes back.
                await self._unplanned(plan)
                return
            self.plans[(eio_sid, ns)] = plan
            await super()._handle_connect(eio_sid, namespace, data)
        except Exception as exc:
            # The session taken for the client must not be lost with a failed connect, nor
            # its sid stay registered as connecting (joins and acks of a later recovery
            # would be refused as "not connected").
            sid = self.manager.sid_from_eio_sid(eio_sid, ns)
            if sid is not None and not self.manager.is_connected(sid, ns):
                await self.manager.disconnect(sid, ns, ignore_queue=True)
            await self._unplanned(plan)
            if not isinstance(exc, RetryLater):
                raise
            await self.close_transports([eio_sid])  # the client retries by itself
        finally:
            self.manager.chosen_sids.pop((eio_sid, ns), None)
            self.plans.pop((eio_sid, ns), None)
            plan.connected.set()

    async def _evict(self, session: Session, namespace: str) -> None:
        """A session has one live connection: a half-open old transport of it is closed
        before the new one takes its sid. Only the node that last held the socket can have
        it, so when that is this node no other node is asked; asking the others goes through
        Redis, a few at a time (each publish holds a connection of its own, and a thousand
        reconnects at once would open a thousand). Another node's session stored at its
        socket's disconnect (`dropped`) has no transport left there: that node is not asked."""
        if session.node == self.manager.host_id:
            await self.disconnect(session.sid, namespace, ignore_queue=True)
            return
        if session.dropped:
            return
        async with self._evictions:
            await self.disconnect(session.sid, namespace)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        """A new engine.io socket may take prebuilt WebSocket frames (ws_frames.py)."""
        ws_frames.adopt(self.eio.sockets.get(eio_sid))
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        """Protocol rule: the CONNECT reply carries the session's `pid`."""
        plan = self.plans.get((eio_sid, pkt.namespace or "/"))
        if plan is not None and pkt.packet_type == packet.CONNECT and isinstance(pkt.data, dict):
            pkt.data = {**pkt.data, "pid": plan.pid}
        await super()._send_packet(eio_sid, pkt)

    async def close_transports(self, eio_sids: list[str] | None = None) -> None:
        """Close engine.io transports without a Socket.IO DISCONNECT, so clients treat it as a
        network drop: they reconnect (to any node) and recover. Used for rolling restarts and
        for clients too slow to keep up."""
        sockets = self.eio.sockets
        for key in [k for k in list(sockets) if eio_sids is None or k in eio_sids]:
            sock = sockets.pop(key, None)
            if sock is None:
                continue
            await sock.close(wait=False, reason=self.eio.reason.SERVER_DISCONNECT)
            # engine.io leaves a websocket open until its writer sees the end of the queue.
            await sock.queue.put(None)
