"""The cache of built frames: a frame too large to keep is still built and sent."""

from __future__ import annotations

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
