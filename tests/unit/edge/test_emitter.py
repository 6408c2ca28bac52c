"""The emitter's direct path: one engine.io packet per event and namespace, shared by every
socket that gets it, and a send queue that refuses a socket's packets all or none. Fake
engine.io sockets (a queue and a closed flag) stand in for the server's."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
from socketio import packet

from tidewire_edge.emitter import Emitter
from tidewire_edge.node import LocalSockets
from tidewire_edge.settings import EdgeSettings

pytestmark = pytest.mark.unit

CURSOR = "E:0:7"
Packets = list[tuple[str, tuple[Any, ...]]]


def _emitter(sids: dict[str, str], **conf: Any) -> tuple[Emitter, dict[str, Any], LocalSockets]:
    """An emitter over fake sockets: `sids` maps each socket.io sid to its engine.io sid."""
    eio_sockets = {e: SimpleNamespace(closed=False, queue=asyncio.Queue()) for e in sids.values()}
    sio = SimpleNamespace(
        eio=SimpleNamespace(sockets=eio_sockets),
        packet_class=packet.Packet,
        manager=SimpleNamespace(eio_sid_from_sid=lambda sid, ns: sids.get(sid)),
    )
    local = LocalSockets()
    emitter = Emitter(sio, EdgeSettings(**conf), local, expired=lambda sid: False)  # type: ignore[arg-type]
    return emitter, eio_sockets, local


def _queued(sock: Any) -> list[Any]:
    found = []
    while not sock.queue.empty():
        found.append(sock.queue.get_nowait())
    return found


def _decoded(pkt: Any) -> list[Any]:
    """The socket.io event a queued engine.io packet carries: [name, *args]."""
    text = pkt.data
    return list(json.loads(text[text.index("[") :]))


def _ticket(action: str) -> tuple[Any, ...]:
    return ({"action": action, "ticket": {"id": "t"}}, CURSOR)


async def test_every_socket_of_an_event_gets_one_shared_packet() -> None:
    emitter, socks, _ = _emitter({"a": "ea", "b": "eb", "c": "ec"})
    shared: Packets = [("company-1-ticket", _ticket("update"))]
    assert emitter.emit_now(shared, "a")
    assert emitter.emit_now(shared, "b")
    # A socket in rooms builds its own list of the same event: found by its key, not rebuilt.
    assert emitter.emit_now([("company-1-ticket", _ticket("update"))], "c")
    (pa,), (pb,), (pc,) = _queued(socks["ea"]), _queued(socks["eb"]), _queued(socks["ec"])
    assert pa is pb is pc
    assert _decoded(pa) == ["company-1-ticket", *_ticket("update")]


async def test_an_update_and_a_delete_of_one_event_do_not_share_a_packet() -> None:
    """One event may make two packets with one cursor (the old status's `delete`, then the
    `update`): the action is part of the key, and so is the namespace."""
    emitter, _, _ = _emitter({})
    delete = emitter.frame("/", "company-1-ticket", _ticket("delete"))
    update = emitter.frame("/", "company-1-ticket", _ticket("update"))
    assert delete.packet is not update.packet
    assert _decoded(delete.packet)[1]["action"] == "delete"
    assert _decoded(update.packet)[1]["action"] == "update"
    # Asked again (not the last one built): the kept packet of that very action.
    assert emitter.frame("/", "company-1-ticket", _ticket("delete")).packet is delete.packet
    other_ns = emitter.frame("/workspace-1", "company-1-ticket", _ticket("delete"))
    assert other_ns.packet is not delete.packet
    assert "/workspace-1" in other_ns.packet.data


async def test_a_socket_without_room_for_all_of_an_events_packets_gets_none_of_them() -> None:
    """Two packets of one event, one place left in the socket's queue: nothing is queued
    (the delivery then waits through `emit`, in order), not the `delete` alone."""
    emitter, socks, _ = _emitter({"a": "ea"}, socket_buffer=10)
    sock = socks["ea"]
    for _ in range(9):
        sock.queue.put_nowait("ping")
    packets: Packets = [
        ("company-1-ticket", _ticket("delete")),
        ("company-1-ticket", _ticket("update")),
    ]
    assert emitter.emit_now(packets, "a") is None
    assert sock.queue.qsize() == 9
    assert emitter._send_queues.queued_bytes("ea") == 0
    _queued(sock)  # the writer took them
    assert emitter.emit_now(packets, "a")
    assert [_decoded(p)[1]["action"] for p in _queued(sock)] == ["delete", "update"]
