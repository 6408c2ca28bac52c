"""The benchmark workload is what the pipeline really carries, and the pacer keeps time."""

from __future__ import annotations

import asyncio
import time

import pytest

from tidewire_bench import load
from tidewire_edge.rooms import socket_event
from tidewire_projector.domain import decide
from tidewire_projector.store_memory import MemoryStore

pytestmark = pytest.mark.unit


async def test_inbound_commands_fold_into_one_message_created_event() -> None:
    store = MemoryStore()
    first = load.inbound_command("co-1", 3, "run", 0)
    second = load.inbound_command("co-1", 3, "run", 1)
    assert first.type == "message.inbound"
    assert first.id != second.id
    out = await decide(first, 0, store)
    await store.apply(out)
    [event] = out.events
    assert (event.type, event.command_id, event.accepted_at) == (
        "message.created",
        first.id,
        first.accepted_at,
    )
    again = await decide(second, 1, store)
    assert again.events[0].ticket_id == event.ticket_id  # same customer, same open ticket


def test_direct_events_reach_clients_as_app_messages_with_accepted_at() -> None:
    event = load.direct_event("co-1", 2, "run", 7)
    event.cursor = "tw1.x"
    name, payload = socket_event(event)
    assert name == "company-co-1-appMessage"
    assert payload["acceptedAt"] == event.accepted_at
    assert payload["eventId"] == event.id
    assert load.direct_event("co-1", 2, "run", 8).id != event.id


async def test_open_loop_sends_on_schedule_without_waiting_for_slow_sends() -> None:
    started: list[float] = []

    async def slow(i: int) -> None:
        started.append(time.perf_counter())
        await asyncio.sleep(0.2)  # far slower than the schedule: an open loop must not care
        if i == 3:
            raise RuntimeError("broker said no")

    t0 = time.perf_counter()
    paced = await load.open_loop(100, 0.2, slow)
    assert (paced.sent, paced.failed) == (20, 1)
    # A closed loop would need 20 x 0.2 s = 4 s; the open one ~0.4 s. Half the closed loop's
    # time is slack for a busy machine that still tells the two apart.
    assert started[-1] - t0 < 2.0
    assert paced.seconds < 2.0


async def test_as_fast_as_possible_bounds_what_is_in_flight() -> None:
    live = peak = 0

    async def one(i: int) -> None:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0)
        live -= 1

    paced = await load.as_fast_as_possible(25, one, in_flight=10)
    assert (paced.sent, paced.failed, peak) == (25, 0, 10)
