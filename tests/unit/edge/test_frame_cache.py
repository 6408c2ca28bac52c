"""The cache of built frames: a frame too large to keep is still built and sent."""

from __future__ import annotations

from sys import getsizeof

import pytest
import socketio

from tidewire_edge.emitter import Emitter
from tidewire_edge.node import LocalSockets
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.cursor import Cursor

pytestmark = pytest.mark.unit


def test_a_frame_between_half_and_all_of_the_wire_budget_is_built() -> None:
    """The cache keeps a frame whose text alone fits (frame.size <= maxsize), but counts it as
    size + len(wire): cachetools then raises ValueError('value too large') instead of not
    keeping it. The event can never be sent (live or replayed)."""
    settings = EdgeSettings(wire_cache_bytes=150_000)
    sio = socketio.AsyncServer(async_mode="asgi")
    emitter = Emitter(sio, settings, LocalSockets(), lambda sid: False)
    body = {"text": "x" * 100_000}  # getsizeof(text) ~ 100 KB <= 150 KB < ~200 KB with its wire
    frame = emitter.frame("/", "ev", (body, Cursor("E", 0, 1).encode()))
    assert frame.wire


def test_the_cache_counts_what_a_frame_comes_to_hold_once_queued() -> None:
    """A kept frame is sized once, when kept; its engine.io packet (a copy of its text) is
    made later, when a socket first queues it: the count must include it from the start."""
    emitter = Emitter(
        socketio.AsyncServer(async_mode="asgi"), EdgeSettings(), LocalSockets(), lambda sid: False
    )
    frame = emitter.frame("/", "ev", ({"text": "x" * 10_000}, Cursor("E", 0, 1).encode()))
    counted = emitter._frames.currsize
    held = getsizeof(frame.payload) + len(frame.wire) + getsizeof(frame.packet.data)
    assert held <= counted


@pytest.mark.parametrize("text", ["x" * 10_000, "olá " * 2_500, "x" * 10_000 + "👋"])
def test_a_frames_budget_size_is_what_its_packets_text_holds(text: str) -> None:
    """Send budgets count a queued packet's text: one emoji makes a text four bytes a
    character, whatever its UTF-8 length."""
    sio = socketio.AsyncServer(async_mode="asgi")
    emitter = Emitter(sio, EdgeSettings(), LocalSockets(), lambda sid: False)
    frame = emitter.frame("/", "ev", ({"text": text}, Cursor("E", 0, 1).encode()))
    assert frame.size == getsizeof(frame.packet.data)
