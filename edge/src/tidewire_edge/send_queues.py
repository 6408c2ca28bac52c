"""Bytes waiting in engine.io's send queue of each socket, and the wait for a full one.

engine.io queues a socket's packets without a bound and says nothing when its writer takes
them: a client that reads slower than we send (a slow link, a long-polling client) would grow
it without end. The edge bounds it in packets and in bytes. engine.io only shows the queue's
length, so the bytes are tracked from outside: the sizes of the packets we put, in order;
packets leave the queue in order, so when it holds `n` packets, all but our newest `n` are
gone. Packets engine.io adds itself (pings) only make the count an overestimate, until the
queue empties.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

# How long a full engine.io queue may take to drain below the socket's bounds before its
# client counts as too slow. A replay from memory fills it without yielding (engine.io's
# queue never blocks a put), so a healthy client is waited for, not cut off.
DRAIN_S = 10.0
_SWEEP_EVERY = 1024  # sends between sweeps of sockets gone without a last look


class SendQueues:
    def __init__(self, sockets: Mapping[str, Any], max_packets: int, max_bytes: int) -> None:
        self._sockets = sockets  # engine.io's eio_sid -> socket (its `queue` is looked at)
        self._max_packets = max_packets
        self._max_bytes = max_bytes
        self._sizes: dict[str, deque[int]] = {}  # eio_sid -> sizes of our queued packets
        self._bytes: dict[str, int] = {}
        self._sends = 0

    def queued_bytes(self, eio_sid: str) -> int:
        """Bytes of ours still in the socket's queue (at most: see the module's doc)."""
        sizes = self._sizes.get(eio_sid)
        if sizes is None:
            return 0
        sock = self._sockets.get(eio_sid)
        waiting = sock.queue.qsize() if sock is not None else 0
        while len(sizes) > waiting:
            self._bytes[eio_sid] -= sizes.popleft()
        if not sizes:
            del self._sizes[eio_sid], self._bytes[eio_sid]
            return 0
        return self._bytes[eio_sid]

    def fits(self, eio_sid: str, sock: Any, size: int) -> bool:
        """Whether a packet of `size` bytes may join the queue now (into an empty one, any)."""
        if sock.queue.qsize() >= self._max_packets:
            return False
        queued = self.queued_bytes(eio_sid)
        return queued == 0 or queued + size <= self._max_bytes

    def fits_all(self, eio_sid: str, sock: Any, sizes: list[int]) -> bool:
        """Whether packets of `sizes` may all join the queue now (`fits`, for several)."""
        if sock.queue.qsize() + len(sizes) > self._max_packets:
            return False
        queued = self.queued_bytes(eio_sid)
        return queued == 0 or queued + sum(sizes) <= self._max_bytes

    def sent(self, eio_sid: str, size: int) -> None:
        """A packet of `size` bytes joined the socket's queue."""
        self._sizes.setdefault(eio_sid, deque()).append(size)
        self._bytes[eio_sid] = self._bytes.get(eio_sid, 0) + size
        self._sends += 1
        if self._sends % _SWEEP_EVERY == 0:
            for gone in [s for s in self._sizes if s not in self._sockets]:
                del self._sizes[gone], self._bytes[gone]

    async def drains(self, eio_sid: str, sock: Any, size: int) -> bool:
        """Whether the queue of `sock` drains enough for `size` more bytes within `DRAIN_S`.
        engine.io signals nothing when its writer takes a packet, so this looks every 10 ms
        (only a full queue gets here)."""
        deadline = time.monotonic() + DRAIN_S
        while not self.fits(eio_sid, sock, size):
            if sock.closed or time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True
