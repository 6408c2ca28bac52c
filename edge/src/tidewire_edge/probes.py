"""The node's HTTP side beside Socket.IO: `/metrics`, `/healthz` (the process answers) and
`/readyz` (Kafka and Redis both answer, so a balancer may send it new connections)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tidewire_edge.node import Engines
from tidewire_platform.metrics import READY

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]


async def readiness(engines: Engines) -> tuple[bytes, int]:
    """The /readyz answer: 200 when Kafka and Redis both answer, else 503 naming which
    does not (a balancer then sends new connections elsewhere)."""
    kafka = engines.feed is not None and await engines.feed.reachable()
    redis_ok = await engines.sessions.reachable()
    READY.set(int(kafka and redis_ok))
    if kafka and redis_ok:
        return b'{"status":"ready"}', 200
    down = [name for name, ok in (("kafka", kafka), ("redis", redis_ok)) if not ok]
    return json.dumps({"status": "unreachable: " + ", ".join(down)}).encode(), 503


def probes(engines: Engines) -> ASGI:
    """The ASGI app for every path python-socketio does not serve."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path == "/metrics":
            body, ctype, status = generate_latest(), CONTENT_TYPE_LATEST, 200
        elif path == "/healthz":
            body, ctype, status = b'{"status":"ok"}', "application/json", 200
        elif path == "/readyz":
            body, status = await readiness(engines)
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

    return app
