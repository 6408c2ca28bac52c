"""A reconnect whose cursor the node's memory covers is planned without asking the log for
its bounds (one round trip to Kafka per reconnect less); any other still asks, and a cursor
past what was read is still refused as foreign."""

from __future__ import annotations

import pytest

from tidewire_edge.feed_kafka import KafkaEventFeed
from tidewire_edge.feed_memory import MemoryEventFeed
from tidewire_edge.plans import Fresh, Recovered
from tidewire_edge.recent import RecentRecords
from tidewire_edge.server import Edge
from tidewire_edge.sessions import Session
from tidewire_edge.sessions_memory import MemorySessionStore
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log_memory import MemoryEventsLog
from tidewire_platform.partitioning import company_key, partition_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.unit

STACK = StackSettings()
PART = partition_for("acme", STACK.partitions)


def _event(n: int) -> Event:
    return Event(
        id=f"e{n}",
        type="message.created",
        company_id="acme",
        command_id=f"k{n}",
        occurred_at=1,
        accepted_at=1,
    )


class _CountedLog(MemoryEventsLog):
    asked = 0

    async def bounds(self, company_id: str) -> tuple[int, int]:
        self.asked += 1
        return await super().bounds(company_id)


async def _edge() -> tuple[Edge, _CountedLog, MemoryEventFeed]:
    """An edge on memory bindings; acme's partition holds offsets 0..9 and acme has a
    stored session `p` from offset 5."""
    edge = Edge(STACK, EdgeSettings())
    events = _CountedLog(STACK.partitions, epoch="E")
    for n in range(10):
        events.append_event(_event(n))
    sessions = MemorySessionStore(EdgeSettings().recovery_window_s)
    await sessions.save(
        Session(
            pid="p",
            sid="S",
            company_id="acme",
            user_id="u1",
            position=Cursor("E", PART, 5).encode(),
            node="n",
        )
    )
    feed = MemoryEventFeed(events)
    edge.engines.sessions, edge.engines.feed, edge.engines.events = sessions, feed, events
    return edge, events, feed


def _auth(offset: int) -> dict[str, str]:
    token = issue_token(STACK, "acme", "u1")
    return {"token": token, "pid": "p", "offset": Cursor("E", PART, offset).encode()}


async def test_a_covered_reconnect_is_planned_from_memory() -> None:
    edge, events, feed = await _edge()
    await feed.follow(PART, 1)
    plan = await edge.planner.plan(_auth(7), {})
    assert isinstance(plan.outcome, Recovered)
    assert plan.outcome.after == Cursor("E", PART, 7)
    assert events.asked == 0


async def test_a_reconnect_to_a_partition_not_followed_asks_the_log() -> None:
    edge, events, _ = await _edge()
    plan = await edge.planner.plan(_auth(7), {})
    assert isinstance(plan.outcome, Recovered)
    assert events.asked == 1


async def test_a_cursor_in_a_gap_the_node_never_read_is_not_recovered_silently() -> None:
    """A node behind the log's retention on a partition is moved by its consumer past the
    records retention deleted: memory holds 0..9 then 100..109 as the loop appends them. A
    cursor inside the gap must be refused as stale, not recovered with events missing."""
    edge = Edge(STACK, EdgeSettings())
    events = MemoryEventsLog(STACK.partitions, epoch="E")
    for n in range(110):
        events.append_event(_event(n))
    events.trim(PART, 100)  # retention deleted 0..99 (the node had read 0..9 only)
    sessions = MemorySessionStore(EdgeSettings().recovery_window_s)
    await sessions.save(
        Session(
            pid="p",
            sid="S",
            company_id="acme",
            user_id="u1",
            position=Cursor("E", PART, 5).encode(),
            node="n",
        )
    )
    feed = KafkaEventFeed(STACK, "E")  # never started: its memory set as its loop leaves it
    ring = RecentRecords(1024**2)
    key = company_key("acme")
    for offset in [*range(10), *range(100, 110)]:  # read 0..9, then reset to the earliest
        ring.append(offset, key, _event(offset).to_bytes())
    feed._recent[PART], feed._next[PART] = ring, 110
    edge.engines.sessions, edge.engines.feed, edge.engines.events = sessions, feed, events

    token = issue_token(STACK, "acme", "u1")
    auth = {"token": token, "pid": "p", "offset": Cursor("E", PART, 50).encode()}
    plan = await edge.planner.plan(auth, {})
    assert isinstance(plan.outcome, Fresh), f"recovered from a gap: {plan.outcome!r}"
    assert plan.outcome.failed_as == "stale"


async def test_a_cursor_past_what_was_read_is_still_refused() -> None:
    edge, events, feed = await _edge()
    await feed.follow(PART, 1)
    plan = await edge.planner.plan(_auth(12), {})
    assert isinstance(plan.outcome, Fresh)
    assert plan.outcome.failed_as == "stale"
    assert "past the end" in (plan.outcome.resync or "")
    assert events.asked == 1
