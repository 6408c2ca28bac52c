"""A session has one live connection: a reconnect closes a half-open old transport of it on
the node that held it (asking that node through Redis), and asks no one when the old socket's
disconnect was already stored with the session (`dropped`).

In-process: two edges' python-socketio servers and handlers sharing one memory session store
and events log (a unit test of the protocol, not of the engines)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from tests.unit.edge.test_socket_races import _edge, _stop_deliveries
from tidewire_edge.server import Edge
from tidewire_platform.cursor import Cursor
from tidewire_platform.partitioning import partition_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.unit


def _open(edge: Edge, eio_sid: str) -> None:
    """An engine.io connection `eio_sid` open on `edge`."""
    edge.sio.environ[eio_sid] = {}
    edge.sio.eio.sockets[eio_sid] = SimpleNamespace(closed=False, session={}, queue=asyncio.Queue())


async def _two_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Edge, Edge, list[str], dict[str, Any]]:
    """Node A with acme's u1 connected (engine.io "e1"), node B sharing its stores; what B
    publishes to the other nodes, and the auth u1 reconnects with."""
    a, sessions, feed, events, _ = _edge(monkeypatch)
    b, _, _, _, _ = _edge(monkeypatch)
    b.engines.sessions, b.engines.feed, b.engines.events = sessions, feed, events
    published: list[str] = []

    async def publish(data: dict[str, Any]) -> None:
        published.append(data["method"])

    monkeypatch.setattr(b.sio.manager, "_publish", publish)
    settings = StackSettings()
    token = issue_token(settings, "acme", "u1")
    _open(a, "e1")
    await a.sio._handle_connect("e1", "/", {"token": token})
    (sid,) = a.sockets.live
    part = partition_for("acme", settings.partitions)
    auth = {"token": token, "pid": a.sockets.live[sid].pid, "offset": Cursor("E", part, 9).encode()}
    return a, b, published, auth


async def test_a_reconnect_after_a_stored_disconnect_asks_no_node_to_evict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, published, auth = await _two_nodes(monkeypatch)
    (sid,) = a.sockets.live
    await a.sio._handle_eio_disconnect("e1", "transport close")
    _open(b, "e2")
    await b.sio._handle_connect("e2", "/", auth)
    assert list(b.sockets.live) == [sid]  # recovered, same sid
    assert "disconnect" not in published
    await _stop_deliveries(a)
    await _stop_deliveries(b)


async def test_a_reconnect_while_the_old_transport_is_half_open_evicts_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, published, auth = await _two_nodes(monkeypatch)
    (sid,) = a.sockets.live
    _open(b, "e2")  # node A never saw the old transport go
    await b.sio._handle_connect("e2", "/", auth)
    assert list(b.sockets.live) == [sid]
    assert published.count("disconnect") == 1
    await _stop_deliveries(a)
    await _stop_deliveries(b)
