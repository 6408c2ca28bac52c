"""Projector batches close as soon as the consumer has caught up with the log: a lone command
is projected at once instead of waiting out the batch window, while a backlog (the log's end
ahead of what was taken) still fills the batch. Driven through a stand-in for the faust stream
that hands events over the way its passive drainer does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tidewire_projector.batching import caught_up, take_caught_up

pytestmark = pytest.mark.unit

_HOUR_S = 3600.0  # a batch window no test could wait out


@dataclass(frozen=True)
class _Message:
    tp: str
    offset: int


@dataclass(frozen=True)
class _Event:
    message: _Message
    value: bytes = b"{}"


class _Channel:
    def __aiter__(self) -> _Channel:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration


class _Stream:
    """What `take_caught_up` uses of a faust stream; `feed` plays its passive drainer."""

    def __init__(self) -> None:
        self.channel = _Channel()
        self.enable_acks = True
        self.should_stop = False
        self.current_event: _Event | None = None
        self.processors: list[Any] = []
        self.acked: list[_Event] = []

    def add_processor(self, processor: Any) -> None:
        self.processors.append(processor)

    def _enable_passive(self, channel: Any) -> None:
        assert channel is self.channel

    async def wait_for_stopped(
        self,
        event: asyncio.Event,
        timeout: float | None = None,  # noqa: ASYNC109 (faust's signature)
    ) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        return self.should_stop

    async def ack(self, event: _Event) -> None:
        self.acked.append(event)

    async def feed(self, *events: _Event) -> None:
        for event in events:
            self.current_event = event
            for processor in self.processors:
                await processor(event.value)


async def _started(stream: _Stream, batches: AsyncIterator[list[Any]]) -> asyncio.Task[Any]:
    """The first batch asked for, once the generator has hooked into the stream."""
    task = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0)  # the task runs up to its first wait: hooked in by then
    assert stream.processors
    return task


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def _at(*offsets: int, tp: str = "p0") -> list[_Event]:
    return [_Event(_Message(tp, n)) for n in offsets]


async def test_a_lone_command_closes_its_batch_at_once() -> None:
    stream = _Stream()
    batches = take_caught_up(stream, 2000, _HOUR_S, lambda tp: 8)
    first = await _started(stream, batches)
    await stream.feed(*_at(7))  # the last record of the log
    assert await asyncio.wait_for(first, 10) == _at(7)
    assert stream.enable_acks is False


async def test_a_backlog_fills_the_batch_until_the_log_end_is_reached() -> None:
    stream = _Stream()
    batches = take_caught_up(stream, 2000, _HOUR_S, lambda tp: {"p0": 3, "p1": 1}[tp])
    first = await _started(stream, batches)
    await stream.feed(*_at(0), *_at(0, tp="p1"), *_at(1))
    await _settle()
    assert not first.done()  # p0 ends at 3: its record at offset 2 is on its way
    await stream.feed(*_at(2))
    assert await asyncio.wait_for(first, 10) == [*_at(0), *_at(0, tp="p1"), *_at(1, 2)]


async def test_a_batch_closes_at_its_max_and_the_rest_waits_for_the_next() -> None:
    stream = _Stream()
    batches = take_caught_up(stream, 2, _HOUR_S, lambda tp: 100)
    first = await _started(stream, batches)
    feeding = asyncio.ensure_future(stream.feed(*_at(0, 1, 2, 3, 4)))
    assert await asyncio.wait_for(first, 10) == _at(0, 1)
    await _settle()
    assert not feeding.done()  # 2 and 3 are buffered for the next batch; 4 waits for room
    assert stream.acked == []  # acknowledged only once the next batch is asked for
    assert await asyncio.wait_for(anext(batches), 10) == _at(2, 3)
    assert stream.acked == _at(0, 1)
    await asyncio.wait_for(feeding, 10)


def test_caught_up_compares_each_partition_with_the_log_end_it_knows() -> None:
    ends = {"a": 10, "b": None}

    def highwater(tp: str) -> int | None:
        if tp == "gone":
            raise AssertionError("partition not assigned")  # aiokafka, after a revoke
        return ends[tp]

    assert caught_up({"a": 9}, highwater)
    assert not caught_up({"a": 8}, highwater)
    assert caught_up({"a": 9, "b": 0, "gone": 0}, highwater)  # unknown ends: nothing to wait
    assert not caught_up({"a": 8, "b": 0}, highwater)


async def test_a_batch_left_unfinished_is_never_acknowledged() -> None:
    """A consumer that stops (shutdown, or an error out of projection) before asking for the
    next batch closes the generator: the batch it held was not projected, so its offsets must
    not be committed; the commands are read again by whoever takes the partition."""
    stream = _Stream()
    batches = take_caught_up(stream, 2000, _HOUR_S, lambda tp: 2)
    first = await _started(stream, batches)
    await stream.feed(*_at(0, 1))
    assert await asyncio.wait_for(first, 10) == _at(0, 1)
    await batches.aclose()  # type: ignore[attr-defined]
    assert stream.acked == []
