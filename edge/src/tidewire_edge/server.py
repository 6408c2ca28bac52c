"""One edge node: python-socketio (ASGI) with the Redis manager, fed by the events log."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import socketio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tidewire_edge.feed import EventFeed
from tidewire_edge.rooms import company_room, socket_event
from tidewire_platform.contracts import Event
from tidewire_platform.metrics import EDGE_E2E_LATENCY, EDGE_EMITS, EDGE_SOCKETS
from tidewire_platform.partitioning import partition_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import TokenError, verify_token

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


def create_edge(settings: StackSettings | None = None) -> Any:
    s = settings or StackSettings()
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=socketio.AsyncRedisManager(s.redis_url, channel="tidewire-edge"),
        cors_allowed_origins="*",
    )

    async def deliver(event: Event) -> None:
        name, payload = socket_event(event)
        # ignore_queue: every node reads the log itself, so a local emit is the whole fan-out;
        # publishing through Redis would make each node deliver every event a second time.
        await sio.emit(name, payload, room=company_room(event.company_id), ignore_queue=True)
        EDGE_EMITS.labels(name.rsplit("-", 1)[-1]).inc()
        EDGE_E2E_LATENCY.observe(max(0.0, time.time() - event.accepted_at / 1000))

    feed = EventFeed(s, deliver)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        try:
            principal = verify_token(s, _token(auth, environ))
        except TokenError as exc:
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from exc
        await feed.follow(partition_for(principal.company_id, s.partitions))
        await sio.save_session(
            sid, {"company_id": principal.company_id, "user_id": principal.user_id}
        )
        await sio.enter_room(sid, company_room(principal.company_id))
        EDGE_SOCKETS.inc()

    @sio.event
    async def disconnect(sid: str, *args: Any) -> None:
        EDGE_SOCKETS.dec()

    async def ops(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        path = scope.get("path", "")
        if path == "/metrics":
            body, ctype, status = generate_latest(), CONTENT_TYPE_LATEST, 200
        elif path in ("/healthz", "/readyz"):
            body, ctype, status = b'{"status":"ok"}', "application/json", 200
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

    return socketio.ASGIApp(sio, other_asgi_app=ops, on_startup=feed.start, on_shutdown=feed.stop)
