"""One edge node: python-socketio (ASGI) with the Redis manager, fed by the events log.

A connection either starts fresh, recovers a session (`pid` + `offset`, socket.io's own
protocol) or replays after `auth.lastEventId`; see `recovery` for the protocol and `delivery`
for ordering. Sessions live in Redis and events in Kafka, so any node can take any client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from sys import getsizeof
from typing import Any
from urllib.parse import parse_qs

import socketio
from cachetools import LRUCache
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from socketio import packet

from tidewire_edge.delivery import Delivery
from tidewire_edge.expiry import REAUTH_EVENT, TokenClocks, token_expiry
from tidewire_edge.feed import EventFeed
from tidewire_edge.feed_kafka import KafkaEventFeed
from tidewire_edge.gateway.auth import Gateway, ProxyUnavailable
from tidewire_edge.gateway.families import FAMILIES
from tidewire_edge.gateway.families import Refused as GatewayRefused
from tidewire_edge.gateway.settings import GatewaySettings
from tidewire_edge.gateway.state import Connected, GatewayState
from tidewire_edge.limits import ConnectRate, Refused, SocketCounts, client_address
from tidewire_edge.recovery import Plan, RecoveringManager, RecoveringServer, RetryLater
from tidewire_edge.rooms import company_room, join_room, user_room
from tidewire_edge.send_queues import SendQueues
from tidewire_edge.sessions import Session, SessionStore
from tidewire_edge.sessions_redis import RedisSessionStore
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.cursor import Cursor, CursorError
from tidewire_platform.events_log import EventsLog, ForeignCursor, StaleCursor
from tidewire_platform.events_log_kafka import KafkaEventsLog
from tidewire_platform.gc_tuning import keep_full_collections_rare
from tidewire_platform.metrics import (
    EDGE_BUSIEST_COMPANY,
    EDGE_BUSIEST_USER,
    EDGE_CONNECTING_ADDRESSES,
    EDGE_CUT_OFF,
    EDGE_MEMORY,
    EDGE_RECOVERIES,
    EDGE_REFUSED,
    EDGE_ROOMS_REFUSED,
    EDGE_SOCKETS,
    EDGE_TOKEN_EXPIRIES,
    READY,
)
from tidewire_platform.partitioning import partition_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.ticket_owners import OwnersUnavailable, TicketOwners
from tidewire_platform.tokens import Principal, TokenError, verify_token

log = logging.getLogger("tidewire.edge")

Scope = MutableMapping[str, Any]
ASGI = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def _token(auth: Any, environ: dict[str, Any]) -> str | None:
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return str(auth["token"])
    query = str(environ.get("QUERY_STRING", ""))
    for part in query.split("&"):  # Whaticket front ends send ?token=
        key, _, value = part.partition("=")
        if key == "token" and value:
            return value
    return None


class Edge:
    """The node's state: sockets' deliveries, the feed, the log reader, the session store."""

    def __init__(
        self,
        settings: StackSettings,
        conf: EdgeSettings,
        gateway: GatewaySettings | None = None,
    ) -> None:
        self.s = settings
        self.conf = conf
        # Gateway mode (gateway/): the helpdesk family's handshake, namespaces and joins.
        family = FAMILIES[gateway.family] if gateway and gateway.family else None
        self.gateway = Gateway(gateway, family, settings.redis_url) if gateway and family else None
        self.sio = RecoveringServer(
            self.plan,
            self._give_back,
            async_mode="asgi",
            client_manager=RecoveringManager(settings.redis_url, channel="tidewire-edge"),
            cors_allowed_origins="*",
            # plus and its forks: a namespace per company (checked against the token).
            namespaces="*" if family is not None and family.name == "plus" else None,
        )
        self.namespaces: dict[str, str] = {}  # sid -> its namespace (gateway: maybe not "/")
        self.sessions: SessionStore = RedisSessionStore(settings.redis_url, conf.recovery_window_s)
        self.events: EventsLog = KafkaEventsLog(settings, "tidewire-edge-replay")
        self.tickets = TicketOwners.on_cassandra(settings)  # checks joinChatBox (read model)
        self.feed: EventFeed | None = None
        self.deliveries: dict[str, Delivery] = {}
        self.live: dict[str, Session] = {}  # sid -> its session as last saved
        self._joins: dict[str, asyncio.Lock] = {}  # sid -> one room change at a time
        self._refresh: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # (namespace, cursor, action) -> encoded packet, kept for the sockets that still have
        # to get it, within a byte budget
        self._wire: LRUCache[tuple[str, str, Any], str] = LRUCache(
            maxsize=conf.wire_budget, getsizeof=getsizeof
        )
        self._send_queues = SendQueues(self.sio.eio.sockets, conf.socket_buffer, conf.socket_budget)
        # Limits (limits.py) and token expiry (expiry.py).
        self.rate = ConnectRate(conf.connects_per_address, conf.connect_window_s)
        self.counts = SocketCounts(conf.max_sockets_per_user, conf.max_sockets_per_company)
        self.clocks = TokenClocks(self._token_expired)
        self._received: set[str] = set()  # sids sent an event: their sessions are worth keeping
        EDGE_BUSIEST_USER.set_function(self.counts.busiest_user)
        EDGE_BUSIEST_COMPANY.set_function(self.counts.busiest_company)
        EDGE_CONNECTING_ADDRESSES.set_function(lambda: len(self.rate))

    # -- connect planning (before a sid exists) --------------------------------------------

    async def plan(self, auth: Any, environ: dict[str, Any], namespace: str = "/") -> Plan:
        auth = auth if isinstance(auth, dict) else {}
        fresh = Plan(pid=uuid.uuid4().hex, namespace=namespace)
        pid, offset, last_id = auth.get("pid"), auth.get("offset"), auth.get("lastEventId")
        # Past the connect rate, only a connect that recovers a session gets in: it adds
        # nothing to Redis, and refusing it would strand clients reconnecting after a node
        # went away (many share an address behind a NAT; socket.io-client never retries a
        # connect_error).
        within = self.rate.hit(client_address(environ, self.conf.trusted_proxies))
        if not within and not (isinstance(pid, str) and pid):
            return self._too_many_connects(fresh)
        if not within and self.gateway is not None and not await self._known(pid):
            # Checking a helpdesk token may cost the helpdesk a Redis read or a proxy call: a
            # made-up pid past the rate gets none of it.
            return self._too_many_connects(fresh)
        if self.gateway is not None:
            principal_or_none = await self._helpdesk_user(auth, environ, fresh)
            if principal_or_none is None:
                return fresh
            principal = principal_or_none
        else:
            try:
                principal = verify_token(self.s, _token(auth, environ))
            except TokenError as exc:
                fresh.refusal = str(exc)  # the connect handler refuses with this reason
                expired = fresh.refusal == "token expired"
                fresh.refusal_data = {"code": "token_expired" if expired else "token_invalid"}
                return fresh
        fresh.who = principal
        plan = await self._plan_recovery(principal, pid, offset, last_id, fresh)
        if not within and plan.outcome != "recovered":
            return self._too_many_connects(Plan(pid=fresh.pid, namespace=fresh.namespace))
        if plan.failed_as is not None:  # counted here: a fallback may have replaced it
            EDGE_RECOVERIES.labels(plan.failed_as).inc()
        return plan

    async def _known(self, pid: str) -> bool:
        try:
            return await self.sessions.exists(pid)
        except Exception:
            return False

    async def _helpdesk_user(
        self, auth: Any, environ: dict[str, Any], fresh: Plan
    ) -> Principal | None:
        """Gateway mode: the helpdesk's own token (or its connect proxy) says who connects;
        None when refused (the plan says why)."""
        assert self.gateway is not None
        query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        try:
            user, rooms, expires = await self.gateway.connect(auth, query, fresh.namespace)
        except GatewayRefused as exc:
            fresh.refusal = str(exc)
            expired = fresh.refusal == "token expired"
            fresh.refusal_data = {"code": "token_expired" if expired else "token_invalid"}
            return None
        except ProxyUnavailable as exc:
            log.warning("helpdesk unavailable at connect: %s", exc)
            fresh.retry = "temporarily unavailable (helpdesk)"
            return None
        except Exception as exc:  # a proxy's odd answer, Redis: the client retries later
            log.warning("cannot check a helpdesk connect: %r", exc)
            fresh.retry = f"temporarily unavailable ({type(exc).__name__})"
            return None
        fresh.gateway = Connected(user, rooms, expires)
        return Principal(company_id=user.company_id, user_id=user.user_id, role=None)

    def _too_many_connects(self, plan: Plan) -> Plan:
        limit, window = self.conf.connects_per_address, self.conf.connect_window_s
        plan.refusal = f"too many connects from this address (limit {limit} per {window:g} s)"
        plan.refusal_data = {"code": "too_many_connects", "limit": limit, "window_s": window}
        return plan

    async def _plan_recovery(
        self, principal: Principal, pid: Any, offset: Any, last_id: Any, fresh: Plan
    ) -> Plan:
        try:
            if isinstance(pid, str) and pid:
                recovered = await self._recovery(principal, pid, offset, fresh)
                if recovered.resync is None or not (isinstance(last_id, str) and last_id):
                    return recovered
                # The session is gone, but the client also said where it was (the official
                # client sends its pid on every reconnect): replay after that instead.
                again = Plan(
                    pid=fresh.pid, who=principal, namespace=fresh.namespace, gateway=fresh.gateway
                )
                return await self._after(principal, last_id, again)
            if isinstance(last_id, str) and last_id:
                return await self._after(principal, last_id, fresh)
        except Exception as exc:  # Redis or Kafka failed us: a clear refusal, not silence
            log.warning("cannot plan a connection: %r", exc)
            EDGE_RECOVERIES.labels("failed").inc()
            fresh.failed_as, fresh.resync = None, None  # the retry decides, not a partial plan
            fresh.retry = f"temporarily unavailable ({type(exc).__name__})"
        return fresh

    async def _recovery(self, who: Principal, pid: str, offset: Any, fresh: Plan) -> Plan:
        session = await self.sessions.take(pid)
        if session is None:
            fresh.failed_as = "expired"
            fresh.resync = "session expired or unknown; state was not recovered"
            return fresh
        if (session.company_id, session.user_id) != (who.company_id, who.user_id) or (
            GatewayState.of(session).namespace != fresh.namespace
        ):
            fresh.failed_as = "foreign"
            await self.sessions.save(session)  # its owner's still: a stranger must not end it
            fresh.resync = "session belongs to another user; state was not recovered"
            return fresh
        try:
            return await self._resume(who, session, offset, fresh)
        except Exception:
            # Taken from Redis but not resumed: put it back, or a passing error (a Kafka
            # leader election) would have lost a session the client can still recover.
            await self.sessions.save(session)
            raise

    async def _resume(self, who: Principal, session: Session, offset: Any, fresh: Plan) -> Plan:
        after = None
        if isinstance(offset, str):
            try:
                after = Cursor.decode(offset)
            except CursorError:
                after = None  # a trailing string that was not ours: use the session's position
        start = Cursor.decode(session.position) if session.position is not None else None
        if start is not None and (after is None or _before(after, start)):
            # The client's offset predates this session: it kept it through a resync (the
            # official client only moves its offset on events). Everything before the
            # session's start was given up then; replaying it now would repeat history.
            after = start
        problem = await self._replayable(who.company_id, after)
        if problem is not None:
            fresh.failed_as = "stale"
            fresh.resync = problem
            return fresh
        return Plan(
            pid=session.pid,
            who=who,
            session=session,
            replay=True,
            after=after,
            outcome="recovered",
            namespace=fresh.namespace,
            gateway=fresh.gateway,
        )

    async def _after(self, who: Principal, last_id: str, fresh: Plan) -> Plan:
        try:
            after = Cursor.decode(last_id)
        except CursorError:
            fresh.failed_as = "invalid"
            fresh.resync = "lastEventId is not a tidewire cursor; nothing replayed"
            return fresh
        problem = await self._replayable(who.company_id, after)
        if problem is not None:
            fresh.failed_as = "stale"
            fresh.resync = problem
            return fresh
        fresh.replay, fresh.after, fresh.outcome = True, after, "replayed"
        return fresh

    async def _replayable(self, company_id: str, after: Cursor | None) -> str | None:
        """Why replaying after `after` is impossible, or None. Never a partial replay."""
        try:
            if after is not None:
                self.events.check(company_id, after)
            first, end = await self.events.bounds(company_id)
        except StaleCursor as exc:
            return str(exc)
        if after is None:
            return None if first == 0 else "session older than the events log's retention"
        if after.offset + 1 < first:
            return "cursor is older than the events log's retention; resync"
        if after.offset >= end:
            return str(ForeignCursor("cursor points past the end of the events log"))
        return None

    # -- socket lifecycle -------------------------------------------------------------------

    async def connect(
        self, sid: str, environ: dict[str, Any], auth: Any, namespace: str = "/"
    ) -> None:
        # The token was checked once, while planning the connection.
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, namespace)
        plan = self.sio.plans[(eio_sid, namespace)]
        who = plan.who
        if who is None or plan.refusal is not None:
            extra = dict(plan.refusal_data or {})
            code = str(extra.pop("code", "token_invalid"))
            EDGE_REFUSED.labels(code).inc()
            raise Refused(code, plan.refusal or "missing token", **extra)
        over = self.counts.admit(sid, who)
        if over is not None:
            EDGE_REFUSED.labels(over.code).inc()
            await self._give_back(plan)  # a recovery refused keeps its session
            raise over
        try:
            await self._connect(sid, plan, who, auth)
        except Exception as exc:
            await self._undo_connect(sid, plan)
            log.warning("cannot connect %s: %r", sid, exc)
            if plan.outcome is not None:  # planned to recover, but the connect failed
                EDGE_RECOVERIES.labels("failed").inc()
            raise RetryLater(f"temporarily unavailable ({type(exc).__name__})") from exc
        if not self._transport_open(sid):
            # The client left while it was being connected: python-socketio does not call
            # `disconnect` for a socket still connecting, so forget it here (its session is
            # saved: it can still recover).
            await self.disconnect(sid)
            raise socketio.exceptions.ConnectionRefusedError("client left during connect")
        if plan.outcome is not None:
            EDGE_RECOVERIES.labels(plan.outcome).inc()
        if plan.gateway is not None:
            assert self.gateway is not None
            if plan.gateway.expires is not None and self.gateway.family.renews_token:
                self.clocks.start(sid, plan.gateway.expires)
            return
        token = _token(auth, environ)
        assert token is not None  # the plan verified it
        self.clocks.start(sid, token_expiry(token))

    def _ns(self, sid: str) -> str:
        return self.namespaces.get(sid, "/")

    def _transport_open(self, sid: str) -> bool:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, self._ns(sid))
        sock = self.sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        return sock is not None and not sock.closed

    async def _give_back(self, plan: Plan) -> None:
        """A connect that failed before its handler ran: its taken session goes back."""
        if plan.session is not None:
            try:
                await self.sessions.save(plan.session)
            except Exception as exc:  # Redis itself may be what failed
                log.warning("session %s could not be put back: %r", plan.pid, exc)

    async def _undo_connect(self, sid: str, plan: Plan) -> None:
        """A connect that failed half-way leaves nothing registered, and a recovered
        session back where the client can find it again."""
        delivery = self.deliveries.pop(sid, None)
        self.live.pop(sid, None)
        self.namespaces.pop(sid, None)
        self.counts.release(sid)
        if delivery is not None:
            assert self.feed is not None
            self.feed.unregister(delivery.company_id, delivery)
            await delivery.stop()
        await self._give_back(plan)

    async def _connect(self, sid: str, plan: Plan, who: Principal, auth: Any) -> None:
        partition = partition_for(who.company_id, self.s.partitions)
        assert self.feed is not None
        await self.feed.follow(partition, self.conf.connect_wait_s)
        old = plan.session
        ns = plan.namespace
        self.namespaces[sid] = ns
        data = old.data if old else {}
        if plan.gateway is not None:
            kept = GatewayState.of(old) if old else None
            state = GatewayState.connected(ns, plan.gateway, kept)
            data = {**data, "gateway": state.model_dump()}
            rooms = state.rooms()
        else:
            rooms = old.rooms if old else [company_room(who.company_id), user_room(who)]
        for room in rooms:
            await self.sio.enter_room(sid, room, namespace=ns)
        await self.sio.save_session(
            sid, {**data, "company_id": who.company_id, "user_id": who.user_id}, namespace=ns
        )
        acks = bool(auth.get("acks")) if isinstance(auth, dict) else False
        feed = self.feed
        delivery = Delivery(
            sid,
            who.company_id,
            self._emit,
            lambda: self._cut_off(sid),
            self.events,
            self.conf,
            acks=acks or bool(old and old.acks),
            recent=lambda c, after, until: feed.recent(c, partition, after, until),
        )
        if old is not None and old.joined:
            delivery.rooms = _whaticket_rooms(old)
        delivery.namespace = ns
        delivery.publication_rooms = frozenset(rooms)
        delivery.publications_only = plan.gateway is not None
        until = self.feed.register(who.company_id, partition, delivery)
        self.deliveries[sid] = delivery
        position = (
            plan.after
            if plan.replay
            else (Cursor(self.events.epoch, partition, until - 1) if until > 0 else None)
        )
        session = Session(
            pid=plan.pid,
            sid=sid,
            company_id=who.company_id,
            user_id=who.user_id,
            rooms=rooms,
            data=data,
            position=position.encode() if position else None,
            acks=delivery.acks,
            node=self.sio.manager.host_id,
            joined=bool(old and old.joined),
            received=bool(old and old.received) or plan.outcome is not None,
        )
        self.live[sid] = session
        await self.sessions.save(session)  # eagerly: a node killed now loses nothing
        ready = plan.connected
        if plan.resync:
            # The resync goes out before any event: it resets the client's offset to this
            # session's start, so an event sent ahead of it would be replayed after a drop.
            ready = asyncio.Event()
            task = asyncio.create_task(self._tell_resync(plan, sid, session.position, ready))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if plan.gateway is not None and self.gateway and self.gateway.family.sends_ready:
            # ticketz: `ready` once the connect-time rooms are joined; its front end sends
            # its joins then. It goes out before any event of the socket.
            before, ready = ready, asyncio.Event()
            task = asyncio.create_task(self._tell_ready(sid, before, ready))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        delivery.start(ready, plan.replay, plan.after, until)
        EDGE_SOCKETS.inc()

    async def _tell_resync(
        self, plan: Plan, sid: str, start: str | None, then: asyncio.Event
    ) -> None:
        """Why nothing was recovered, then `then` (the delivery may start). Its last argument
        is the new session's start, so the official client (which takes any trailing string
        as its offset) drops the offset of the history it was told is lost."""
        try:
            await plan.connected.wait()
            args = [{"reason": plan.resync}, *([start] if start else [])]
            await self.sio.emit(
                "tidewire:resync", tuple(args), to=sid, namespace=self._ns(sid), ignore_queue=True
            )
        finally:
            then.set()

    async def _tell_ready(self, sid: str, before: asyncio.Event, then: asyncio.Event) -> None:
        try:
            await before.wait()
            await self.sio.emit("ready", to=sid, namespace=self._ns(sid), ignore_queue=True)
        finally:
            then.set()

    async def disconnect(self, sid: str, *args: Any) -> None:
        delivery = self.deliveries.pop(sid, None)
        session = self.live.pop(sid, None)
        self.namespaces.pop(sid, None)
        self._joins.pop(sid, None)
        self.counts.release(sid)
        self.clocks.stop(sid)
        received = sid in self._received
        self._received.discard(sid)
        if session is not None:
            # The window counts from the drop (the last sign of life), not from the last
            # periodic refresh. Only extends a session still stored: one taken by a
            # reconnect elsewhere is not brought back. A fresh session that was sent nothing
            # has nothing to recover but its rooms: kept briefly.
            quiet = not (received or session.received)
            try:
                await self.sessions.touch(
                    [session.pid], self.conf.quiet_session_s if quiet else None
                )
            except Exception as exc:
                log.warning("session %s not refreshed at disconnect: %r", session.pid, exc)
        if delivery is not None:
            assert self.feed is not None
            self.feed.unregister(delivery.company_id, delivery)
            await delivery.stop()
            EDGE_SOCKETS.dec()

    async def _emit(self, name: str, args: tuple[Any, ...], sid: str) -> None:
        """Send one event to one local socket. The Socket.IO packet of an event is the same
        for every socket (its cursor is the last argument), so it is encoded once and kept
        for the next sockets; engine.io then only frames it."""
        body = args[0]
        ns = self._ns(sid)
        # One event may make two packets (rooms.deletion): the action tells them apart.
        action = body.get("action") if isinstance(body, dict) else None
        key = (ns, args[-1], action if isinstance(action, str) else None)
        wire = self._wire.get(key)
        if wire is None:
            # binary=False: events come from JSON, so they hold no bytes; it spares the
            # library's recursive walk of the payload looking for attachments.
            pkt = self.sio.packet_class(
                packet.EVENT, data=[name, *args], namespace=ns, binary=False
            )
            wire = pkt.encode()
            if getsizeof(wire) <= self._wire.maxsize:  # else too large to keep
                self._wire[key] = wire
                EDGE_MEMORY.labels("wire").set(self._wire.currsize)
        if self.clocks.expired(sid):
            return  # its token expired: nothing more for it (it recovers with a new one)
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, ns)
        if eio_sid is None:
            return
        sock = self.sio.eio.sockets.get(eio_sid)
        if sock is None or sock.closed:
            return
        self._received.add(sid)
        size = getsizeof(wire)
        queues = self._send_queues
        if not queues.fits(eio_sid, sock, size) and not await queues.drains(eio_sid, sock, size):
            # engine.io's own send queue has no bound: a client that reads slower than we
            # send (a slow link, a long-polling client) would grow it without end. Past the
            # same bounds as the delivery's queue (packets, bytes), for longer than a healthy
            # client needs to take it in, it is cut off and recovers from the log.
            EDGE_CUT_OFF.inc()
            await self._cut_off(sid)
            return
        await self.sio.eio.send(eio_sid, wire)
        queues.sent(eio_sid, size)

    async def _token_expired(self, sid: str) -> None:
        """The socket's token expired: say so, then drop its transport (its session stays
        recoverable for a client that reconnects with a new token)."""
        EDGE_TOKEN_EXPIRIES.inc()
        reason = {"reason": "token expired", "code": "token_expired"}
        await self.sio.emit(
            REAUTH_EVENT, reason, to=sid, namespace=self._ns(sid), ignore_queue=True
        )
        await self._cut_off(sid)

    async def _cut_off(self, sid: str) -> None:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, self._ns(sid))
        if eio_sid is not None:
            await self.sio.close_transports([eio_sid])

    # -- rooms and acks ---------------------------------------------------------------------

    async def join(self, sid: str, kind: str, arg: Any, leave: bool) -> dict[str, Any]:
        # python-socketio runs each event in a task of its own: a front end's joins at page
        # load overlap, and each would write back the rooms it read before its ticket check.
        if sid not in self.live or self.clocks.expired(sid):  # gone: no lock to leave behind
            return {"ok": False, "error": "not connected"}
        async with self._joins.setdefault(sid, asyncio.Lock()):
            return await self._join(sid, kind, arg, leave)

    async def _join(self, sid: str, kind: str, arg: Any, leave: bool) -> dict[str, Any]:
        session = self.live.get(sid)
        if session is None:
            return {"ok": False, "error": "not connected"}
        try:
            room = join_room(session.company_id, kind, arg)
            limit = self.conf.max_rooms_per_socket
            if not leave and room not in session.rooms and len(session.rooms) >= limit:
                EDGE_ROOMS_REFUSED.inc()  # first: a refused join costs no ticket lookup
                raise ValueError(f"too many rooms for this socket (limit {limit})")
            if kind == "ChatBox" and not leave:
                await self._check_ticket(session.company_id, str(arg))
        except ValueError as exc:
            # Socket.IO v3+ reserves no "error" event name on the client: it reaches
            # `socket.on("error", ...)`; the join's own acknowledgement says the same.
            await self.sio.emit("error", {"message": str(exc)}, to=sid, ignore_queue=True)
            return {"ok": False, "error": str(exc)}
        if self.live.get(sid) is not session:
            # The socket left (or recovered elsewhere) during the ticket check: entering the
            # room or saving now would bring a dead session back, here and in Redis.
            return {"ok": False, "error": "not connected"}
        if leave:
            await self.sio.leave_room(sid, room)
            rooms = [r for r in session.rooms if r != room]
        else:
            await self.sio.enter_room(sid, room)
            rooms = [*session.rooms, room] if room not in session.rooms else session.rooms
        session = session.model_copy(update={"rooms": rooms, "joined": True})
        self.live[sid] = session
        delivery = self.deliveries.get(sid)
        if delivery is not None:  # from the next event on, only its rooms' events
            delivery.rooms = _whaticket_rooms(session)
        await self.sessions.save(session)
        return {"ok": True, "room": room}

    async def gateway_join(self, sid: str, event: str, arg: Any) -> dict[str, Any]:
        """Gateway mode: a family's join or leave event, mapped to the helpdesk's rooms by
        its rules or its join proxy. Refusals are answered to the acknowledgement only, as
        the families' own servers refuse silently (ticketz toasts every `error` event)."""
        if sid not in self.live or self.clocks.expired(sid):
            return {"ok": False, "error": "not connected"}
        async with self._joins.setdefault(sid, asyncio.Lock()):
            return await self._gateway_join(sid, event, arg)

    async def _gateway_join(self, sid: str, event: str, arg: Any) -> dict[str, Any]:
        assert self.gateway is not None
        session = self.live.get(sid)
        if session is None:
            return {"ok": False, "error": "not connected"}
        state = GatewayState.of(session)
        before = state.rooms()
        try:
            change = await self.gateway.join(
                event, arg, state.user(session.company_id, session.user_id)
            )
            new = state.changed(change, self.gateway.family.counts_joins)
            rooms = new.rooms()
            limit = self.conf.max_rooms_per_socket
            if len(rooms) > max(limit, len(before)):
                EDGE_ROOMS_REFUSED.inc()
                raise GatewayRefused(f"too many rooms for this socket (limit {limit})")
        except GatewayRefused as exc:
            log.info("join %s of %s refused: %s", event, sid, exc)
            return {"ok": False, "error": str(exc)}
        except ProxyUnavailable as exc:
            log.warning("join proxy: %s", exc)
            return {"ok": False, "error": "cannot check this join now; retry"}
        if self.live.get(sid) is not session:
            return {"ok": False, "error": "not connected"}  # left during the proxy's answer
        ns = self._ns(sid)
        for room in set(before) - set(rooms):
            await self.sio.leave_room(sid, room, namespace=ns)
        for room in set(rooms) - set(before):
            await self.sio.enter_room(sid, room, namespace=ns)
        data = {**session.data, "gateway": new.model_dump()}
        session = session.model_copy(update={"rooms": rooms, "joined": True, "data": data})
        self.live[sid] = session
        delivery = self.deliveries.get(sid)
        if delivery is not None:  # from the next publication on
            delivery.publication_rooms = frozenset(rooms)
        await self.sessions.save(session)
        return {"ok": True, "rooms": rooms}

    async def _check_ticket(self, company_id: str, ticket_id: str) -> None:
        """ValueError unless the token's company has this ticket (the read model says so)."""
        try:
            owned = await self.tickets.owns(company_id, ticket_id)
        except OwnersUnavailable as exc:
            log.warning("cannot check ticket %s of %s: %s", ticket_id, company_id, exc)
            raise ValueError(f"cannot check ticket {ticket_id!r} now; retry the join") from exc
        if not owned:
            raise ValueError(f"ticket {ticket_id!r} is not a ticket of your company")

    async def ack(self, sid: str, cursor: Any) -> dict[str, Any]:
        delivery = self.deliveries.get(sid)
        try:
            parsed = Cursor.decode(cursor)
            if delivery is not None:  # another epoch's or partition's would settle everything
                self.events.check(delivery.company_id, parsed)
        except (CursorError, StaleCursor) as exc:
            return {"ok": False, "error": str(exc)}
        settled = delivery.acked(parsed) if delivery else 0
        return {"ok": True, "settled": settled}

    # -- node lifecycle ---------------------------------------------------------------------

    async def startup(self) -> None:
        keep_full_collections_rare()  # see gc_tuning.py
        await self.events.start()
        self.feed = KafkaEventFeed(
            self.s,
            self.events.epoch,
            recent_bytes=self.conf.recent_budget(self.s.partitions),
            decoded_bytes=self.conf.decoded_budget,
            yield_bytes=self.conf.socket_budget // 4,
        )
        await self.feed.start()
        self._refresh = asyncio.create_task(self._refresh_sessions())

    async def readiness(self) -> tuple[bytes, int]:
        """The /readyz answer: 200 when Kafka and Redis both answer, else 503 naming which
        does not (a balancer then sends new connections elsewhere)."""
        kafka = self.feed is not None and await self.feed.reachable()
        redis_ok = await self.sessions.reachable()
        READY.set(int(kafka and redis_ok))
        if kafka and redis_ok:
            return b'{"status":"ready"}', 200
        down = [name for name, ok in (("kafka", kafka), ("redis", redis_ok)) if not ok]
        return json.dumps({"status": "unreachable: " + ", ".join(down)}).encode(), 503

    async def _refresh_sessions(self) -> None:
        """Keep live sessions recoverable for the whole window after they drop."""
        while True:
            await asyncio.sleep(max(1.0, self.conf.recovery_window_s / 3))
            try:
                await self.sessions.touch([s.pid for s in self.live.values()])
            except Exception:
                log.exception("session refresh failed")

    async def shutdown(self) -> None:
        """Rolling restart: drop every transport so clients reconnect elsewhere and recover."""
        await self.sio.close_transports()
        if self.gateway is not None:
            await self.gateway.close()
        if self._refresh:
            self._refresh.cancel()
        if self.feed:
            await self.feed.stop()
        await self.events.stop()
        await self.sessions.close()
        await self.clocks.close()
        await asyncio.to_thread(self.tickets.close)


def _whaticket_rooms(session: Session) -> frozenset[str]:
    """The rooms that choose a joined socket's events: all but its company and user rooms."""
    who = Principal(session.company_id, session.user_id)
    return frozenset(session.rooms) - {company_room(who.company_id), user_room(who)}


def create_edge(
    settings: StackSettings | None = None,
    conf: EdgeSettings | None = None,
    gateway: GatewaySettings | None = None,
) -> Any:
    edge = Edge(settings or StackSettings(), conf or EdgeSettings(), gateway or GatewaySettings())
    sio = edge.sio
    if edge.gateway is not None:
        _gateway_handlers(edge)
    else:
        sio.on("connect", edge.connect)
        sio.on("disconnect", edge.disconnect)
        sio.on("ack", edge.ack)
        for kind in ("ChatBox", "Tickets", "Notification"):
            for leave in (False, True):
                name = f"leave{kind}" if leave else f"join{kind}"
                sio.on(name, _joiner(edge, kind, leave))

    async def ops(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        path = scope.get("path", "")
        if path == "/metrics":
            body, ctype, status = generate_latest(), CONTENT_TYPE_LATEST, 200
        elif path == "/healthz":
            body, ctype, status = b'{"status":"ok"}', "application/json", 200
        elif path == "/readyz":  # ready: Kafka feeds it and Redis holds its sessions
            body, status = await edge.readiness()
            ctype = "application/json"
        else:
            body, ctype, status = b'{"detail":"not found"}', "application/json", 404
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return socketio.ASGIApp(
        sio, other_asgi_app=ops, on_startup=edge.startup, on_shutdown=edge.shutdown
    )


def _gateway_handlers(edge: Edge) -> None:
    """The family's events, on `/` or (plus) on every namespace: python-socketio hands a
    catch-all namespace's handlers the namespace first."""
    assert edge.gateway is not None
    family = edge.gateway.family
    sio = edge.sio
    if family.name != "plus":
        sio.on("connect", edge.connect)
        sio.on("disconnect", edge.disconnect)
        sio.on("ack", edge.ack)
        for event in family.events:
            sio.on(event, _gateway_joiner(edge, event))
        return

    async def connect(namespace: str, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await edge.connect(sid, environ, auth, namespace)

    async def disconnect(namespace: str, sid: str, *args: Any) -> None:
        await edge.disconnect(sid, *args)

    async def ack(namespace: str, sid: str, cursor: Any = None) -> dict[str, Any]:
        return await edge.ack(sid, cursor)

    sio.on("connect", connect, namespace="*")
    sio.on("disconnect", disconnect, namespace="*")
    sio.on("ack", ack, namespace="*")
    for event in family.events:
        joiner = _gateway_joiner(edge, event)

        async def handler(namespace: str, sid: str, arg: Any = None, _j: Any = joiner) -> Any:
            return await _j(sid, arg)

        sio.on(event, handler, namespace="*")


def _gateway_joiner(edge: Edge, event: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def handler(sid: str, arg: Any = None) -> dict[str, Any]:
        return await edge.gateway_join(sid, event, arg)

    return handler


def _joiner(edge: Edge, kind: str, leave: bool) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def handler(sid: str, arg: Any = None) -> dict[str, Any]:
        return await edge.join(sid, kind, arg, leave)

    return handler


def _before(cursor: Cursor, start: Cursor) -> bool:
    """Whether `cursor` lies before a session's `start` (another epoch or partition counts
    as before: the session's own position is the one this log still knows)."""
    return (cursor.epoch, cursor.partition) != (start.epoch, start.partition) or (
        cursor.offset < start.offset
    )
