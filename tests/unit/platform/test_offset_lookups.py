"""Concurrent partition-bound lookups share Kafka round trips but never get an old answer."""

from __future__ import annotations

import asyncio

import pytest

from tidewire_platform.offset_lookups import Bounds, OffsetLookups

pytestmark = pytest.mark.unit


class FakeKafka:
    """Counts requests; each answers with the end offset as of when it was sent."""

    def __init__(self) -> None:
        self.requests: list[list[int]] = []
        self.end = 10
        self.release = asyncio.Event()
        self.sent = asyncio.Event()

    async def fetch(self, partitions: list[int]) -> dict[int, Bounds]:
        self.requests.append(partitions)
        self.sent.set()
        end = self.end
        await self.release.wait()
        return {p: (0, end + p) for p in partitions}


async def test_lookups_asked_during_a_request_share_the_next_one() -> None:
    kafka = FakeKafka()
    lookups = OffsetLookups(kafka.fetch)
    first = asyncio.create_task(lookups.bounds(1))
    await kafka.sent.wait()  # the first request is on the wire
    kafka.end = 20  # written meanwhile
    later = [asyncio.create_task(lookups.bounds(p)) for p in (1, 2, 2, 3)]
    for _ in range(3):  # let them all ask
        await asyncio.sleep(0)
    kafka.release.set()
    assert await first == (0, 11)
    assert await asyncio.gather(*later) == [(0, 21), (0, 22), (0, 22), (0, 23)]
    assert kafka.requests == [[1], [1, 2, 3]]


async def test_a_failed_request_fails_its_askers_and_the_next_ones_still_run() -> None:
    calls = 0

    async def flaky(partitions: list[int]) -> dict[int, Bounds]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("broker away")
        return {p: (0, 5) for p in partitions}

    lookups = OffsetLookups(flaky)
    with pytest.raises(ConnectionError):
        await lookups.bounds(0)
    assert await lookups.bounds(0) == (0, 5)
