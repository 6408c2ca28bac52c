"""What a connected socket asks of its node: to join or leave rooms, and (ack mode) to
settle the events it has.

A room change is checked (the room limit, a ticket's company, or in gateway mode the family's
rules and join proxy), applied to python-socketio's rooms and saved with the session, so a
recovery on any node comes back in the same rooms. One change at a time per socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tidewire_edge.gateway.auth import Gateway, ProxyUnavailable
from tidewire_edge.gateway.families import Refused as GatewayRefused
from tidewire_edge.gateway.state import GatewayState
from tidewire_edge.node import Engines, LocalSockets
from tidewire_edge.recovery import RecoveringServer
from tidewire_edge.rooms import company_room, join_room, user_room
from tidewire_edge.sessions import Session
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.cursor import Cursor, CursorError
from tidewire_platform.events_log import StaleCursor
from tidewire_platform.metrics import EDGE_ROOMS_REFUSED
from tidewire_platform.ticket_owners import OwnersUnavailable
from tidewire_platform.tokens import Principal

log = logging.getLogger("tidewire.edge.requests")

Answer = dict[str, Any]  # the request's acknowledgement: {"ok": bool, ...}
NOT_CONNECTED: Answer = {"ok": False, "error": "not connected"}


class SocketRequests:
    def __init__(
        self,
        sio: RecoveringServer,
        settings: EdgeSettings,
        engines: Engines,
        sockets: LocalSockets,
        gateway: Gateway | None,
        expired: Callable[[str], bool],
    ) -> None:
        self._sio = sio
        self._settings = settings
        self._engines = engines
        self._sockets = sockets
        self._gateway = gateway
        self._expired = expired  # whether a sid's token has expired (expiry.py)

    async def join(self, sid: str, kind: str, arg: Any, leave: bool) -> Answer:
        """Platform mode: `join<kind>` / `leave<kind>` (ChatBox, Tickets, Notification)."""
        return await self._one_at_a_time(sid, lambda: self._join(sid, kind, arg, leave))

    async def gateway_join(self, sid: str, event: str, arg: Any) -> Answer:
        """Gateway mode: a family's join or leave event, mapped to the helpdesk's rooms by
        its rules or its join proxy. Refusals are answered to the acknowledgement only, as
        the families' own servers refuse silently (ticketz toasts every `error` event)."""
        return await self._one_at_a_time(sid, lambda: self._gateway_join(sid, event, arg))

    async def _one_at_a_time(self, sid: str, change: Callable[[], Awaitable[Answer]]) -> Answer:
        # python-socketio runs each event in a task of its own: a front end's joins at page
        # load overlap, and each would write back the rooms it read before its ticket check.
        if sid not in self._sockets.live or self._expired(sid):  # gone: no lock left behind
            return dict(NOT_CONNECTED)
        async with self._sockets.join_locks.setdefault(sid, asyncio.Lock()):
            return await change()

    async def _join(self, sid: str, kind: str, arg: Any, leave: bool) -> Answer:
        session = self._sockets.live.get(sid)
        if session is None:
            return dict(NOT_CONNECTED)
        try:
            room = join_room(session.company_id, kind, arg)
            limit = self._settings.max_rooms_per_socket
            if not leave and room not in session.rooms and len(session.rooms) >= limit:
                EDGE_ROOMS_REFUSED.inc()  # first: a refused join costs no ticket lookup
                raise ValueError(f"too many rooms for this socket (limit {limit})")
            if kind == "ChatBox" and not leave:
                await self._check_ticket(session.company_id, str(arg))
        except ValueError as exc:
            # Socket.IO v3+ reserves no "error" event name on the client: it reaches
            # `socket.on("error", ...)`; the join's own acknowledgement says the same.
            await self._sio.emit("error", {"message": str(exc)}, to=sid, ignore_queue=True)
            return {"ok": False, "error": str(exc)}
        if self._sockets.live.get(sid) is not session:
            # The socket left (or recovered elsewhere) during the ticket check: entering the
            # room or saving now would bring a dead session back, here and in Redis.
            return dict(NOT_CONNECTED)
        if leave:
            await self._sio.leave_room(sid, room)
            rooms = [r for r in session.rooms if r != room]
        else:
            await self._sio.enter_room(sid, room)
            rooms = [*session.rooms, room] if room not in session.rooms else session.rooms
        session = session.model_copy(update={"rooms": rooms, "joined": True})
        self._sockets.live[sid] = session
        delivery = self._sockets.deliveries.get(sid)
        if delivery is not None:  # from the next event on, only its rooms' events
            delivery.rooms = whaticket_rooms(session)
        await self._engines.sessions.save(session)
        return {"ok": True, "room": room}

    async def _gateway_join(self, sid: str, event: str, arg: Any) -> Answer:
        assert self._gateway is not None
        session = self._sockets.live.get(sid)
        if session is None:
            return dict(NOT_CONNECTED)
        state = GatewayState.of(session)
        before = state.rooms()
        try:
            change = await self._gateway.join(
                event, arg, state.user(session.company_id, session.user_id)
            )
            new = state.changed(change, self._gateway.family.counts_joins)
            rooms = new.rooms()
            limit = self._settings.max_rooms_per_socket
            if len(rooms) > max(limit, len(before)):
                EDGE_ROOMS_REFUSED.inc()
                raise GatewayRefused(f"too many rooms for this socket (limit {limit})")
        except GatewayRefused as exc:
            log.info("join %s of %s refused: %s", event, sid, exc)
            return {"ok": False, "error": str(exc)}
        except ProxyUnavailable as exc:
            log.warning("join proxy: %s", exc)
            return {"ok": False, "error": "cannot check this join now; retry"}
        if self._sockets.live.get(sid) is not session:
            return dict(NOT_CONNECTED)  # left during the proxy's answer
        ns = self._sockets.namespace(sid)
        for room in set(before) - set(rooms):
            await self._sio.leave_room(sid, room, namespace=ns)
        for room in set(rooms) - set(before):
            await self._sio.enter_room(sid, room, namespace=ns)
        data = {**session.data, "gateway": new.model_dump()}
        session = session.model_copy(update={"rooms": rooms, "joined": True, "data": data})
        self._sockets.live[sid] = session
        delivery = self._sockets.deliveries.get(sid)
        if delivery is not None:  # from the next publication on
            delivery.publication_rooms = frozenset(rooms)
        await self._engines.sessions.save(session)
        return {"ok": True, "rooms": rooms}

    async def _check_ticket(self, company_id: str, ticket_id: str) -> None:
        """ValueError unless the token's company has this ticket (the read model says so)."""
        try:
            owned = await self._engines.tickets.owns(company_id, ticket_id)
        except OwnersUnavailable as exc:
            log.warning("cannot check ticket %s of %s: %s", ticket_id, company_id, exc)
            raise ValueError(f"cannot check ticket {ticket_id!r} now; retry the join") from exc
        if not owned:
            raise ValueError(f"ticket {ticket_id!r} is not a ticket of your company")

    async def ack(self, sid: str, cursor: Any) -> Answer:
        """Ack mode: the client has every event up to `cursor`."""
        delivery = self._sockets.deliveries.get(sid)
        try:
            parsed = Cursor.decode(cursor)
            if delivery is not None:  # another epoch's or partition's would settle everything
                self._engines.events.check(delivery.company_id, parsed)
        except (CursorError, StaleCursor) as exc:
            return {"ok": False, "error": str(exc)}
        settled = delivery.acked(parsed) if delivery else 0
        return {"ok": True, "settled": settled}


def whaticket_rooms(session: Session) -> frozenset[str]:
    """The rooms that choose a joined socket's events: all but its company and user rooms."""
    who = Principal(session.company_id, session.user_id)
    return frozenset(session.rooms) - {company_room(who.company_id), user_room(who)}
