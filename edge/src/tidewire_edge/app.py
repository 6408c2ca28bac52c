"""The edge's ASGI app: an `Edge` with its Socket.IO handlers registered (platform mode's
events, or the gateway family's), and the probes for every other path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from tidewire_edge.gateway.settings import GatewaySettings
from tidewire_edge.probes import probes
from tidewire_edge.server import Edge
from tidewire_edge.settings import EdgeSettings
from tidewire_edge.socket_requests import Answer
from tidewire_platform.settings import StackSettings

Handler = Callable[..., Awaitable[Answer]]


def create_edge(
    stack: StackSettings | None = None,
    settings: EdgeSettings | None = None,
    gateway: GatewaySettings | None = None,
) -> Any:
    edge = Edge(stack or StackSettings(), settings or EdgeSettings(), gateway or GatewaySettings())
    sio = edge.sio
    if edge.gateway is not None:
        _gateway_handlers(edge)
    else:
        sio.on("connect", edge.connect)
        sio.on("disconnect", edge.disconnect)
        sio.on("ack", edge.requests.ack)
        for kind in ("ChatBox", "Tickets", "Notification"):
            for leave in (False, True):
                name = f"leave{kind}" if leave else f"join{kind}"
                sio.on(name, _joiner(edge, kind, leave))
    return socketio.ASGIApp(
        sio,
        other_asgi_app=probes(edge.engines),
        on_startup=edge.startup,
        on_shutdown=edge.shutdown,
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
        sio.on("ack", edge.requests.ack)
        for event in family.events:
            sio.on(event, _gateway_joiner(edge, event))
        return

    async def connect(namespace: str, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await edge.connect(sid, environ, auth, namespace)

    async def disconnect(namespace: str, sid: str, *args: Any) -> None:
        await edge.disconnect(sid, *args)

    async def ack(namespace: str, sid: str, cursor: Any = None) -> Answer:
        return await edge.requests.ack(sid, cursor)

    sio.on("connect", connect, namespace="*")
    sio.on("disconnect", disconnect, namespace="*")
    sio.on("ack", ack, namespace="*")
    for event in family.events:
        joiner = _gateway_joiner(edge, event)

        async def handler(namespace: str, sid: str, arg: Any = None, _j: Any = joiner) -> Any:
            return await _j(sid, arg)

        sio.on(event, handler, namespace="*")


def _gateway_joiner(edge: Edge, event: str) -> Handler:
    async def handler(sid: str, arg: Any = None) -> Answer:
        return await edge.requests.gateway_join(sid, event, arg)

    return handler


def _joiner(edge: Edge, kind: str, leave: bool) -> Handler:
    async def handler(sid: str, arg: Any = None) -> Answer:
        return await edge.requests.join(sid, kind, arg, leave)

    return handler
