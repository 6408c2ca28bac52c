"""One edge node: python-socketio (ASGI) with the Redis manager, fed by the events log.

A connection either starts fresh, recovers a session (`pid` + `offset`, socket.io's own
protocol) or replays after `auth.lastEventId`: planner.py decides which before the sid
exists, `Edge.connect` carries it out (see `recovery` for the protocol and `delivery` for
ordering). Sessions live in Redis and events in Kafka, so any node can take any client.
The node's other parts: emitter.py (sending), socket_requests.py (joins, acks), probes.py.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import socketio

from tidewire_edge import wire_json
from tidewire_edge.delivery import Delivery
from tidewire_edge.emitter import Emitter
from tidewire_edge.expiry import TokenClocks
from tidewire_edge.fanout import Fanouts
from tidewire_edge.feed_kafka import KafkaEventFeed
from tidewire_edge.feed_rdkafka import RdKafkaEventFeed
from tidewire_edge.gateway.auth import Gateway
from tidewire_edge.gateway.families import FAMILIES
from tidewire_edge.gateway.settings import GatewaySettings
from tidewire_edge.gateway.state import GatewayState
from tidewire_edge.limits import ConnectRate, Refused, SocketCounts
from tidewire_edge.node import Engines, LocalSockets
from tidewire_edge.planner import ConnectPlanner
from tidewire_edge.plans import Admitted, Fresh, Plan, Recovered, Refusal, Retry
from tidewire_edge.recovery import RecoveringManager, RecoveringServer, RetryLater
from tidewire_edge.rooms import company_room, user_room
from tidewire_edge.sessions import Session
from tidewire_edge.sessions_redis import RedisSessionStore
from tidewire_edge.settings import EdgeSettings
from tidewire_edge.socket_requests import SocketRequests, whaticket_rooms
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log_kafka import KafkaEventsLog
from tidewire_platform.gc_tuning import keep_full_collections_rare
from tidewire_platform.metrics import (
    EDGE_BUSIEST_COMPANY,
    EDGE_BUSIEST_USER,
    EDGE_CONNECTING_ADDRESSES,
    EDGE_RECOVERIES,
    EDGE_REFUSED,
    EDGE_SOCKETS,
)
from tidewire_platform.partitioning import partition_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.ticket_owners import TicketOwners

log = logging.getLogger("tidewire.edge")


class Edge:
    """One node: its parts, and the lifecycle of its sockets (connect, disconnect)."""

    def __init__(
        self,
        stack: StackSettings,
        settings: EdgeSettings,
        gateway: GatewaySettings | None = None,
    ) -> None:
        self.stack = stack
        self.settings = settings
        # Gateway mode (gateway/): the helpdesk family's handshake, namespaces and joins.
        family = FAMILIES[gateway.family] if gateway and gateway.family else None
        self.gateway = Gateway(gateway, family, stack.redis_url) if gateway and family else None
        self.engines = Engines(
            sessions=RedisSessionStore(stack.redis_url, settings.recovery_window_s),
            events=KafkaEventsLog(stack, "tidewire-edge-replay"),
            tickets=TicketOwners.on_cassandra(stack),  # checks joinChatBox (read model)
        )
        self.sockets = LocalSockets()
        # Limits (limits.py) and token expiry (expiry.py).
        rate = ConnectRate(settings.connects_per_address, settings.connect_window_s)
        self.counts = SocketCounts(settings.max_sockets_per_user, settings.max_sockets_per_company)
        self.clocks = TokenClocks(self._token_expired)
        self.planner = ConnectPlanner(stack, settings, self.engines, rate, self.gateway)
        self.sio = RecoveringServer(
            self.planner.plan,
            self._give_back,
            async_mode="asgi",
            client_manager=RecoveringManager(stack.redis_url, channel="tidewire-edge"),
            cors_allowed_origins="*",
            json=wire_json,
            # plus and its forks: a namespace per company (checked against the token).
            namespaces="*" if family is not None and family.name == "plus" else None,
        )
        self.emitter = Emitter(self.sio, settings, self.sockets, self.clocks.expired)
        self.fanouts = Fanouts(self.engines)
        self.requests = SocketRequests(
            self.sio, settings, self.engines, self.sockets, self.gateway, self.clocks.expired
        )
        self._refresh: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        EDGE_BUSIEST_USER.set_function(self.counts.busiest_user)
        EDGE_BUSIEST_COMPANY.set_function(self.counts.busiest_company)
        EDGE_CONNECTING_ADDRESSES.set_function(lambda: len(rate))

    async def connect(
        self, sid: str, environ: dict[str, Any], auth: Any, namespace: str = "/"
    ) -> None:
        # The token was checked once, while planning the connection.
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, namespace)
        plan = self.sio.plans[(eio_sid, namespace)]
        outcome = plan.outcome
        if isinstance(outcome, Refusal):
            extra = dict(outcome.data)
            code = str(extra.pop("code", "token_invalid"))
            EDGE_REFUSED.labels(code).inc()
            raise Refused(code, outcome.reason, **extra)
        if isinstance(outcome, Retry):  # the server closes the transport before this runs
            raise RetryLater(outcome.reason)
        over = self.counts.admit(sid, outcome.who)
        if over is not None:
            EDGE_REFUSED.labels(over.code).inc()
            await self._give_back(plan)  # a recovery refused keeps its session
            raise over
        try:
            await self._connect(sid, plan, outcome, auth)
        except Exception as exc:
            await self._undo_connect(sid, plan)
            log.warning("cannot connect %s: %r", sid, exc)
            if outcome.counted_as is not None:  # planned to recover, but the connect failed
                EDGE_RECOVERIES.labels("failed").inc()
            raise RetryLater(f"temporarily unavailable ({type(exc).__name__})") from exc
        if not self.emitter.transport_open(sid):
            # The client left while it was being connected: python-socketio does not call
            # `disconnect` for a socket still connecting, so forget it here (its session is
            # saved: it can still recover).
            await self.disconnect(sid)
            raise socketio.exceptions.ConnectionRefusedError("client left during connect")
        if outcome.counted_as is not None:
            EDGE_RECOVERIES.labels(outcome.counted_as).inc()
        if outcome.gateway is not None:
            assert self.gateway is not None
            if outcome.gateway.expires is not None and self.gateway.family.renews_token:
                self.clocks.start(sid, outcome.gateway.expires)
            return
        assert outcome.expires is not None  # the plan verified the token
        self.clocks.start(sid, outcome.expires)

    async def _give_back(self, plan: Plan) -> None:
        """A connect that failed before its handler ran: its taken session goes back."""
        if plan.session is not None:
            try:
                await self.engines.sessions.save(plan.session)
            except Exception as exc:  # Redis itself may be what failed
                log.warning("session %s could not be put back: %r", plan.pid, exc)

    async def _undo_connect(self, sid: str, plan: Plan) -> None:
        """A connect that failed half-way leaves nothing registered, and a recovered
        session back where the client can find it again."""
        delivery, _ = self.sockets.forget(sid)
        self.counts.release(sid)
        if delivery is not None:
            self.fanouts.discard(delivery.company_id, delivery)
            await delivery.stop()
        await self._give_back(plan)

    async def _connect(self, sid: str, plan: Plan, outcome: Admitted, auth: Any) -> None:
        who = outcome.who
        partition = partition_for(who.company_id, self.stack.partitions)
        feed = self.engines.feed
        assert feed is not None
        await feed.follow(partition, self.settings.connect_wait_s)
        old = outcome.session if isinstance(outcome, Recovered) else None
        ns = plan.namespace
        self.sockets.namespaces[sid] = ns
        data = old.data if old else {}
        if outcome.gateway is not None:
            kept = GatewayState.of(old) if old else None
            state = GatewayState.connected(ns, outcome.gateway, kept)
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
        delivery = Delivery(
            sid,
            who.company_id,
            self.emitter.emit,
            lambda: self.emitter.cut_off(sid),
            self.engines.events,
            self.settings,
            acks=acks or bool(old and old.acks),
            recent=lambda c, after, until: feed.recent(c, partition, after, until),
            emit_now=self.emitter.emit_now,
            direct=self.emitter.direct,
        )
        if old is not None and old.joined:
            delivery.rooms = whaticket_rooms(old)
        delivery.namespace = ns
        delivery.publication_rooms = frozenset(rooms)
        delivery.publications_only = outcome.gateway is not None
        until = self.fanouts.add(who.company_id, partition, delivery)
        self.sockets.deliveries[sid] = delivery
        replay = not isinstance(outcome, Fresh)
        after = None if isinstance(outcome, Fresh) else outcome.after
        position = (
            after
            if replay
            else (Cursor(self.engines.events.epoch, partition, until - 1) if until > 0 else None)
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
            received=bool(old and old.received) or replay,
            conn=uuid.uuid4().hex,
        )
        self.sockets.live[sid] = session
        await self.engines.sessions.save(session)  # eagerly: a node killed now loses nothing
        ready = plan.connected
        if isinstance(outcome, Fresh) and outcome.resync:
            # The resync goes out before any event: it resets the client's offset to this
            # session's start, so an event sent ahead of it would be replayed after a drop.
            ready = asyncio.Event()
            self._in_background(self._tell_resync(plan, outcome.resync, sid, session, ready))
        if outcome.gateway is not None and self.gateway and self.gateway.family.sends_ready:
            # ticketz: `ready` once the connect-time rooms are joined; its front end sends
            # its joins then. It goes out before any event of the socket.
            before, ready = ready, asyncio.Event()
            self._in_background(self._tell_ready(sid, before, ready))
        delivery.start(ready, replay, after, until)
        EDGE_SOCKETS.inc()

    def _in_background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _tell_resync(
        self, plan: Plan, reason: str, sid: str, session: Session, then: asyncio.Event
    ) -> None:
        """Why nothing was recovered, then `then` (the delivery may start). Its last argument
        is the new session's start, so the official client (which takes any trailing string
        as its offset) drops the offset of the history it was told is lost."""
        try:
            await plan.connected.wait()
            start = session.position
            args = [{"reason": reason}, *([start] if start else [])]
            ns = self.sockets.namespace(sid)
            await self.sio.emit(
                "tidewire:resync", tuple(args), to=sid, namespace=ns, ignore_queue=True
            )
        finally:
            then.set()

    async def _tell_ready(self, sid: str, before: asyncio.Event, then: asyncio.Event) -> None:
        try:
            await before.wait()
            ns = self.sockets.namespace(sid)
            await self.sio.emit("ready", to=sid, namespace=ns, ignore_queue=True)
        finally:
            then.set()

    async def disconnect(self, sid: str, *args: Any) -> None:
        delivery, session = self.sockets.forget(sid)
        self.counts.release(sid)
        self.clocks.stop(sid)
        received = sid in self.emitter.received
        self.emitter.received.discard(sid)
        if session is not None:
            # The window counts from the drop (the last sign of life), not from the last
            # periodic refresh. Only extends a session still stored: one taken by a
            # reconnect elsewhere is not brought back. A fresh session that was sent nothing
            # has nothing to recover but its rooms: kept briefly. Stored as dropped, so the
            # reconnect that takes it asks no node to evict a transport that is gone.
            quiet = not (received or session.received)
            try:
                await self.engines.sessions.release(
                    session, self.settings.quiet_session_s if quiet else None
                )
            except Exception as exc:
                log.warning("session %s not refreshed at disconnect: %r", session.pid, exc)
        if delivery is not None:
            self.fanouts.discard(delivery.company_id, delivery)
            await delivery.stop()
            EDGE_SOCKETS.dec()

    async def _token_expired(self, sid: str) -> None:
        await self.emitter.token_expired(sid)

    # -- node lifecycle ---------------------------------------------------------------------

    async def startup(self) -> None:
        keep_full_collections_rare()  # see gc_tuning.py
        events = self.engines.events
        await events.start()
        binding = RdKafkaEventFeed if self.settings.kafka_client == "librdkafka" else KafkaEventFeed
        self.engines.feed = binding(
            self.stack,
            events.epoch,
            recent_bytes=self.settings.recent_budget(self.stack.partitions),
            decoded_bytes=self.settings.decoded_budget,
            yield_bytes=self.settings.socket_budget // 4,
            fetch_wait_ms=self.settings.fetch_wait_ms,
        )
        await self.engines.feed.start()
        if isinstance(self.engines.feed, RdKafkaEventFeed) and isinstance(events, KafkaEventsLog):
            events.use_bounds(self.engines.feed.bounds)  # its lookups cost less CPU
        self._refresh = asyncio.create_task(self._refresh_sessions())

    async def _refresh_sessions(self) -> None:
        """Keep live sessions recoverable for the whole window after they drop."""
        while True:
            await asyncio.sleep(max(1.0, self.settings.recovery_window_s / 3))
            try:
                await self.engines.sessions.touch([s.pid for s in self.sockets.live.values()])
            except Exception:
                log.exception("session refresh failed")

    async def shutdown(self) -> None:
        """Rolling restart: drop every transport so clients reconnect elsewhere and recover."""
        await self.sio.close_transports()
        if self.gateway is not None:
            await self.gateway.close()
        if self._refresh:
            self._refresh.cancel()
        if self.engines.feed:
            await self.engines.feed.stop()
        await self.engines.events.stop()
        await self.engines.sessions.close()
        await self.clocks.close()
        await asyncio.to_thread(self.engines.tickets.close)
