"""The manager's index of each socket's rooms keeps the library's room table exactly."""

from __future__ import annotations

import random

import pytest
import socketio

from tidewire_edge.recovery import RecoveringManager

pytestmark = pytest.mark.unit


def _pair() -> tuple[RecoveringManager, socketio.AsyncManager]:
    ours = RecoveringManager("redis://127.0.0.1:1/0", channel="t")  # never connects here
    theirs = socketio.AsyncManager()
    for m in (ours, theirs):
        m.set_server(socketio.AsyncServer())
    return ours, theirs


def _connect(m: socketio.AsyncManager, sid: str) -> None:
    m.basic_enter_room(sid, "/", None, eio_sid="e-" + sid)
    m.basic_enter_room(sid, "/", sid)


def test_random_joins_leaves_and_disconnects_match_the_library() -> None:
    ours, theirs = _pair()
    rng = random.Random(7)
    sids = [f"s{i}" for i in range(40)]
    connected: set[str] = set()
    for _ in range(2_000):
        sid, room = rng.choice(sids), f"room-{rng.randrange(8)}"
        op = rng.randrange(4)
        for m in (ours, theirs):
            if sid not in connected:
                _connect(m, sid)
            elif op == 0:
                m.basic_enter_room(sid, "/", room)
            elif op == 1:
                m.basic_leave_room(sid, "/", room)
            elif op == 2:
                m.pending_disconnect.setdefault("/", []).append(sid)
                m.basic_disconnect(sid, "/")
        if sid not in connected:
            connected.add(sid)
        elif op == 2:
            connected.discard(sid)
        assert ours.rooms == theirs.rooms
        assert ours.pending_disconnect == theirs.pending_disconnect
        for s in connected:
            assert sorted(ours.get_rooms(s, "/")) == sorted(theirs.get_rooms(s, "/"))


def test_a_disconnect_leaves_no_trace() -> None:
    ours, _ = _pair()
    _connect(ours, "a")
    _connect(ours, "b")
    for room in ("company:c1", "user:c1:u1"):
        ours.basic_enter_room("a", "/", room)
        ours.basic_enter_room("b", "/", room)
    ours.basic_disconnect("a", "/")
    assert all("a" not in members for members in ours.rooms["/"].values())
    assert ours.get_rooms("a", "/") == []
    assert sorted(ours.get_rooms("b", "/")) == ["b", "company:c1", "user:c1:u1"]
    ours.basic_disconnect("b", "/")
    assert "/" not in ours.rooms
