"""One reader at a time, with turns shared round-robin between tenants.

The events log is read through one Kafka consumer per process, so catch-up reads take turns.
A plain lock serves waiters first come, first served: a tenant with many reads queued (a
loop of requests, a thousand sockets replaying) would make every other tenant wait behind all
of them. Here each tenant has its own queue, and the turn passes to the tenants in rotation,
the tenant whose turn just ended going last: a tenant that asks while another holds the turn
waits for the turn in progress and at most one turn of each other tenant waiting, whatever
their backlog. Each turn is one bounded page (events_log.py), so one tenant's deep replay
delays another's catch-up by at most one page.

No library offers a lock with per-key round-robin; asyncio's own primitives are the base.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairTurns:
    def __init__(self) -> None:
        self._busy = False
        # tenant -> its waiters, first come first; the tenants in the order their turn comes
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @asynccontextmanager
    async def turn(self, tenant: str) -> AsyncIterator[None]:
        """Hold the one turn for the block; waits while another holds it."""
        if self._busy or self._waiting:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(tenant, deque()).append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._pass_on(tenant)  # granted as it was cancelled: the turn goes on
                else:
                    self._forget(tenant, fut)
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._pass_on(tenant)

    def waiting(self) -> int:
        """How many waiters are queued (for tests and metrics)."""
        return sum(len(q) for q in self._waiting.values())

    def _forget(self, tenant: str, fut: asyncio.Future[None]) -> None:
        queue = self._waiting.get(tenant)
        if queue is not None and fut in queue:
            queue.remove(fut)
            if not queue:
                del self._waiting[tenant]

    def _pass_on(self, served: str) -> None:
        """Give the turn to the first waiter of the next tenant in rotation (`served`, whose
        turn just ended, goes last), or free it."""
        if served in self._waiting:
            self._waiting.move_to_end(served)
        while self._waiting:
            tenant, queue = next(iter(self._waiting.items()))
            fut = queue.popleft()
            if not queue:
                del self._waiting[tenant]
            if not fut.done():
                fut.set_result(None)
                self._busy = True
                return
        self._busy = False
