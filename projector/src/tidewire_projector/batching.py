"""Batches of the commands stream that close as soon as the consumer has caught up.

faust's `take_events(max, within)` yields when `max` events are buffered, or when its timer
of `within` fires, and that timer runs whether events come or not: at a helpdesk's pace every
command waited for the window to end (half of it on average), and an idle projector woke
twenty times a second for nothing.

Here a batch opens with its first event and closes as soon as
- it holds `max_` events, or
- the consumer has caught up: in every partition of the batch, the last event taken is the
  last of the log as the consumer's latest fetch saw it (its highwater), or
- `within` has passed since it opened (a backlog: records beyond the fetch are still coming).
A lone command is projected at once; under a backlog the highwater is ahead of what arrived,
so batches fill as before. Events that arrive while a batch is projected are buffered (at most
`max_`) for the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

# The consumer's last known end of a partition (None or an error: unknown, taken as reached).
Highwater = Callable[[Any], int | None]


def caught_up(last: dict[Any, int], highwater: Highwater) -> bool:
    """Whether every partition of `last` (partition -> last offset taken) has been taken up
    to the log's end the consumer knows."""
    for tp, offset in last.items():
        try:
            end = highwater(tp)
        except Exception:  # revoked meanwhile: aiokafka asserts the partition is assigned
            continue
        if end is not None and offset + 1 < end:
            return False
    return True


class _Buffer:
    """Events the stream hands over, for the next batch; full at `max_` (the stream waits)."""

    def __init__(self, max_: int) -> None:
        self.max = max_
        self.events: list[Any] = []
        self.last: dict[Any, int] = {}  # partition -> last offset in `events`
        self.grown = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    async def add(self, event: Any) -> None:
        await self.room.wait()
        self.events.append(event)
        self.last[event.message.tp] = event.message.offset
        if len(self.events) >= self.max:
            self.room.clear()
        self.grown.set()

    def take(self) -> list[Any]:
        events, self.events = self.events, []
        self.last = {}
        self.grown.clear()
        self.room.set()
        return events


async def take_caught_up(
    stream: Any, max_: int, within: float, highwater: Highwater
) -> AsyncIterator[list[Any]]:
    """Batches of faust events of `stream` (see the module's docstring); each batch's events
    are acknowledged once the consumer asks for the next one, never when it leaves early."""
    buffer = _Buffer(max_)

    async def add(value: Any) -> Any:
        await buffer.add(stream.current_event)
        return value

    stream.enable_acks = False  # acknowledged here, after the batch is projected
    stream.add_processor(add)
    stream._enable_passive(aiter(stream.channel))
    loop = asyncio.get_running_loop()
    while not stream.should_stop:
        if not buffer.events and await stream.wait_for_stopped(buffer.grown):
            break  # no timer while idle: the first event opens the batch
        closes = loop.time() + within
        while len(buffer.events) < max_ and not caught_up(buffer.last, highwater):
            left = closes - loop.time()
            if left <= 0:
                break
            buffer.grown.clear()
            if await stream.wait_for_stopped(buffer.grown, timeout=left):
                break
        batch = buffer.take()
        yield batch
        # Reached only when the consumer asks for the next batch, so after it projected this
        # one; a consumer that leaves instead (shutdown, an error) closes the generator at the
        # `yield`, and a batch never projected is never acknowledged.
        for event in batch:
            await stream.ack(event)
