"""Turns at the events log's one reader, shared round-robin between tenants."""

from __future__ import annotations

import asyncio

import pytest

from tidewire_platform.fair_turns import FairTurns

pytestmark = pytest.mark.unit


async def _reader(turns: FairTurns, tenant: str, order: list[str], step: asyncio.Event) -> None:
    async with turns.turn(tenant):
        order.append(tenant)
        await step.wait()


async def test_a_tenant_with_a_backlog_waits_its_turn_behind_a_newcomer() -> None:
    """Ten reads of tenant a are queued before b asks: b is served right after the read in
    progress, where a lock (first come, first served) would serve all of a's first."""
    turns = FairTurns()
    order: list[str] = []
    go = asyncio.Event()
    go.set()
    hold = asyncio.Event()
    first = asyncio.create_task(_reader(turns, "a", order, hold))
    await asyncio.sleep(0)  # a holds the turn
    backlog = [asyncio.create_task(_reader(turns, "a", order, go)) for _ in range(10)]
    await asyncio.sleep(0)
    late = asyncio.create_task(_reader(turns, "b", order, go))
    await asyncio.sleep(0)
    assert turns.waiting() == 11
    hold.set()
    await asyncio.gather(first, *backlog, late)
    assert order.index("b") == 1  # a's turn in progress, then b
    assert order.count("a") == 11


async def test_tenants_alternate_while_both_have_reads_waiting() -> None:
    turns = FairTurns()
    order: list[str] = []
    hold = asyncio.Event()
    go = asyncio.Event()
    go.set()
    first = asyncio.create_task(_reader(turns, "x", order, hold))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(_reader(turns, t, order, go)) for t in ["a"] * 3 + ["b"] * 3]
    await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(first, *tasks)
    assert order == ["x", "a", "b", "a", "b", "a", "b"]


async def test_a_cancelled_waiter_neither_holds_nor_loses_the_turn() -> None:
    turns = FairTurns()
    order: list[str] = []
    hold = asyncio.Event()
    go = asyncio.Event()
    go.set()
    first = asyncio.create_task(_reader(turns, "a", order, hold))
    await asyncio.sleep(0)
    gone = asyncio.create_task(_reader(turns, "b", order, go))
    after = asyncio.create_task(_reader(turns, "c", order, go))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    hold.set()
    await asyncio.gather(first, after)
    assert order == ["a", "c"]
    assert turns.waiting() == 0
    async with turns.turn("d"):  # free again
        pass
