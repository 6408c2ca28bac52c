"""The bytes each socket has waiting in engine.io's queue, tracked from outside it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from tidewire_edge.send_queues import SendQueues

pytestmark = pytest.mark.unit


def _socket() -> Any:
    return SimpleNamespace(closed=False, queue=asyncio.Queue())


def test_a_queue_is_full_by_bytes_long_before_its_packet_bound() -> None:
    sock = _socket()
    queues = SendQueues({"e1": sock}, max_packets=2000, max_bytes=100_000)
    for _ in range(3):
        assert queues.fits("e1", sock, 30_000)
        sock.queue.put_nowait("packet")
        queues.sent("e1", 30_000)
    assert queues.queued_bytes("e1") == 90_000
    assert not queues.fits("e1", sock, 30_000)
    sock.queue.get_nowait()  # the writer took the oldest packet
    assert queues.queued_bytes("e1") == 60_000
    assert queues.fits("e1", sock, 30_000)


def test_an_empty_queue_takes_a_packet_of_any_size() -> None:
    sock = _socket()
    queues = SendQueues({"e1": sock}, max_packets=2000, max_bytes=1000)
    assert queues.fits("e1", sock, 10**6)


def test_packets_the_edge_did_not_put_only_make_it_an_overestimate() -> None:
    sock = _socket()
    queues = SendQueues({"e1": sock}, max_packets=2000, max_bytes=10**6)
    sock.queue.put_nowait("ping")
    sock.queue.put_nowait("ours")
    queues.sent("e1", 500)
    sock.queue.get_nowait()  # the ping left; ours is still there
    assert queues.queued_bytes("e1") == 500
    sock.queue.get_nowait()
    assert queues.queued_bytes("e1") == 0


async def test_a_queue_that_does_not_drain_is_given_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from tidewire_edge import send_queues

    monkeypatch.setattr(send_queues, "DRAIN_S", 0.05)
    sock = _socket()
    queues = SendQueues({"e1": sock}, max_packets=2000, max_bytes=1000)
    sock.queue.put_nowait("packet")
    queues.sent("e1", 900)
    assert not await queues.drains("e1", sock, 900)
