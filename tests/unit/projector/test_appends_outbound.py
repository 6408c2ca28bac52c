"""An agent's message is appended twice over, as its event and as the outbound sender's record,
in one round trip: both are handed to the producer before either is acknowledged. A crash in
between may leave either one written, so a replay appends the event if the log lacks it and
the outbound record whatever the log holds (the sender skips a twin; a send never asked for
would be lost)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.faust_records import record_of
from tests.unit.projector.test_batch_dead_letters import _TOPICS, _Cassandra, _inbound, _Tail
from tidewire_platform.contracts import Command, Event
from tidewire_projector.journal_cassandra import Journaled
from tidewire_projector.pipeline import Pipeline
from tidewire_projector.store_cached import CachedStore

pytestmark = pytest.mark.unit

_COMPANY = "co-out"


class _HeldProducer:
    """Takes records, and acknowledges none until `release` (a broker slower than the test)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.acks: list[asyncio.Future[None]] = []
        self.both_sent = asyncio.Event()

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> asyncio.Future[None]:
        self.sent.append((topic, value))
        if len(self.sent) >= 2:
            self.both_sent.set()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(fut)
        return fut

    def release(self) -> None:
        for fut in self.acks:
            if not fut.done():
                fut.set_result(None)


class _Present(_Tail):
    """The events log holds every event of `ids`."""

    def __init__(self, ids: set[str]) -> None:
        self.ids = ids

    async def present(self, since: dict[int, int]) -> dict[int, set[str]]:
        return {p: set(self.ids) for p in since}


def _send(ticket_id: str) -> Command:
    return Command(
        id=f"cmd-send-{ticket_id}",
        type="message.send",
        company_id=_COMPANY,
        ticket_id=ticket_id,
        payload={"client_message_id": "c-1", "body": "hello there", "user_id": "u-1"},
    )


async def _projected(pipeline: Pipeline, command: Command, offset: int) -> _HeldProducer:
    """`command` projected at `offset`, every record acknowledged as soon as it is sent."""
    producer = _HeldProducer()
    task = asyncio.create_task(pipeline.project([record_of(command, offset)], producer))  # type: ignore[arg-type]
    while not task.done():
        producer.release()
        await asyncio.sleep(0)
    await task
    return producer


async def _ticket(cassandra: _Cassandra) -> str:
    """A customer's message first: the ticket the agent answers."""
    pipeline = Pipeline(CachedStore(cassandra), _TOPICS, _Tail())  # type: ignore[arg-type]
    producer = await _projected(pipeline, _inbound(_COMPANY, "w1", "hi"), 0)
    created = Event.from_bytes(next(v for t, v in producer.sent if t == _TOPICS.events))
    return str(created.ticket_id)


async def test_an_agents_message_and_its_outbound_record_leave_before_either_is_acknowledged() -> (
    None
):
    cassandra = _Cassandra()
    ticket_id = await _ticket(cassandra)
    pipeline = Pipeline(CachedStore(cassandra), _TOPICS, _Tail())  # type: ignore[arg-type]
    producer = _HeldProducer()
    task = asyncio.create_task(pipeline.project([record_of(_send(ticket_id), 1)], producer))  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(producer.both_sent.wait(), 10)
        assert [t for t, _ in producer.sent] == [_TOPICS.outbound, _TOPICS.events]
        assert not task.done()  # the batch is done only once both are acknowledged
        producer.release()
        await task
    finally:
        task.cancel()


async def test_a_replay_whose_event_is_in_the_log_appends_its_outbound_record_again() -> None:
    cassandra = _Cassandra()
    ticket_id = await _ticket(cassandra)
    first = Pipeline(CachedStore(cassandra), _TOPICS, _Tail())  # type: ignore[arg-type]
    send = _send(ticket_id)
    producer = await _projected(first, send, 1)
    # The crash: the event was written, its outbound record maybe not; the batch comes again.
    unit = cassandra.flushed[-1]
    event = Event.from_bytes(next(v for t, v in producer.sent if t == _TOPICS.events))
    cassandra.journal = {send.id: Journaled(1, 1_000, unit.outcome)}
    again = Pipeline(CachedStore(cassandra), _TOPICS, _Present({event.id}))  # type: ignore[arg-type]
    replayed = await _projected(again, send, 1)
    assert [t for t, _ in replayed.sent] == [_TOPICS.outbound]  # not the event: it is there
    assert Event.from_bytes(replayed.sent[0][1]).id == event.id
