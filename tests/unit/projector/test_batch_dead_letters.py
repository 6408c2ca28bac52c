"""A command whose events cannot be written is dead-lettered with the reason, and the batch
goes on: one tenant's command must never stop the agent that folds every partition. Checked
when the command is decided, again when a journaled outcome is replayed (it may predate the
check), and when the broker refuses a record all the same."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError

from tests.support.faust_records import record_of
from tidewire_platform.contracts import Command, Event
from tidewire_platform.settings import StackSettings
from tidewire_projector.appends import Topics
from tidewire_projector.journal_cassandra import Journaled, Unit
from tidewire_projector.outcome import Outcome
from tidewire_projector.pipeline import Pipeline
from tidewire_projector.store_cached import CachedStore
from tidewire_projector.store_memory import MemoryStore

pytestmark = pytest.mark.unit

_TOPICS = Topics.of(StackSettings())


class _Cassandra(MemoryStore):
    """The store behind the cache: read models in memory, a journal given by the test."""

    def __init__(self, journal: dict[str, Journaled] | None = None) -> None:
        super().__init__()
        self.journal = journal or {}
        self.flushed: list[Unit] = []

    async def journaled(self, positions: dict[str, set[int]]) -> dict[str, Journaled]:
        return {k: v for k, v in self.journal.items() if k in positions}

    async def many(self, kind: str, wanted: dict[str, Any]) -> dict[Any, Any]:
        get = {
            "contact": self.contact,
            "open": self.open_ticket,
            "ticket": self.ticket,
            "wamid": self.message_id_for_wamid,
            "message": self.message,
        }[kind]
        found = {}
        for company, keys in wanted.items():
            for key in keys:
                if (value := await get(company, *key)) is not None:
                    found[(company, *key)] = value
        return found

    async def flush(self, units: list[Unit]) -> None:
        self.flushed += units
        for unit in units:
            await self.apply(unit.outcome)


class _Tail:
    """The events log holds none of the replayed commands' events."""

    async def present(self, since: dict[int, int]) -> dict[int, set[str]]:
        return {p: set() for p in since}


class _Producer:
    """Records sent, by topic. An event containing b"HUGE" is refused by `send` itself, one
    containing b"BAD" by the broker (its future fails), as long as `refusing`."""

    def __init__(self, refusing: bool = True) -> None:
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]] | None]] = []
        self.refusing = refusing

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> asyncio.Future[None]:
        refusing = self.refusing and topic == _TOPICS.events
        if refusing and b"HUGE" in value:
            raise MessageSizeTooLargeError("too large for max_request_size")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if refusing and b"BAD" in value:
            fut.set_exception(MessageSizeTooLargeError())
        else:
            self.sent.append((topic, value, kwargs.get("headers")))
            fut.set_result(None)
        return fut


def _inbound(company: str, wamid: str, body: str) -> Command:
    return Command(
        id=f"cmd-{company}-{wamid}",
        type="message.inbound",
        company_id=company,
        payload={
            "wamid": wamid,
            "kind": "text",
            "body": body,
            "phone_number_id": "p1",
            "contact_wa_id": "5511",
        },
    )


def _pipeline(cassandra: _Cassandra, max_event_bytes: int | None = None) -> Pipeline:
    topics = _TOPICS
    if max_event_bytes is not None:
        topics = dataclasses.replace(topics, max_event_bytes=max_event_bytes)
    return Pipeline(CachedStore(cassandra), topics, _Tail())  # type: ignore[arg-type]


def _errors(producer: _Producer) -> list[str]:
    dead = _TOPICS.deadletter
    return [dict(h or [])["error"].decode() for t, _, h in producer.sent if t == dead]


def _event_bodies(producer: _Producer) -> list[str]:
    events = [Event.from_bytes(v) for t, v, _ in producer.sent if t == _TOPICS.events]
    return [e.payload["message"]["body"] for e in events]


async def test_a_command_whose_event_is_too_big_is_dead_lettered_whole() -> None:
    cassandra = _Cassandra()
    big, small = _inbound("A", "w1", "x" * 2000), _inbound("B", "w2", "fine")
    producer = _Producer()
    decided = await _pipeline(cassandra, max_event_bytes=3000).project(
        [record_of(big, 10), record_of(small, 11)],
        producer,  # type: ignore[arg-type]
    )

    assert sorted(decided.outcomes) == ["applied", "deadletter"]
    [error] = _errors(producer)
    assert error.startswith("event message.created ")
    assert "bytes exceeds the 3,000 bytes an event may have" in error
    assert _event_bodies(producer) == ["fine"]
    # Nothing of the dead-lettered command was written: no read model without its event.
    assert [u.outcome.company_id for u in cassandra.flushed] == ["B"]


async def test_a_replayed_outcome_holding_an_oversize_event_appends_the_rest() -> None:
    command = _inbound("A", "w1", "hi")
    events = [
        Event(
            id=f"e{n}",
            type="message.created",
            company_id="A",
            command_id=command.id,
            occurred_at=1,
            accepted_at=1,
            payload={"message": {"body": body}},
        )
        for n, body in enumerate(["y" * 5000, "ok"])
    ]
    journal = {command.id: Journaled(7, 1, Outcome(company_id="A", events=events))}
    producer = _Producer()
    pipeline = _pipeline(_Cassandra(journal), max_event_bytes=3000)
    decided = await pipeline.project([record_of(command, 7)], producer)  # type: ignore[arg-type]

    assert decided.outcomes == ["replayed"]
    [error] = _errors(producer)
    assert "event message.created e0 of 5," in error
    assert _event_bodies(producer) == ["ok"]


async def test_records_refused_all_the_same_are_found_one_at_a_time() -> None:
    pipeline = _pipeline(_Cassandra())
    commands = [
        _inbound("A", "w1", "first"),
        _inbound("B", "w2", "HUGE for the producer"),
        _inbound("C", "w3", "BAD for the broker"),
        _inbound("D", "w4", "last"),
    ]
    records = [record_of(c, 20 + n) for n, c in enumerate(commands)]
    first = _Producer()
    with pytest.raises(MessageSizeTooLargeError):  # the agent renews and retries...
        await pipeline.project(records, first)  # type: ignore[arg-type]

    renewed: list[_Producer] = []

    async def renew() -> Any:
        renewed.append(_Producer())
        return renewed[-1]

    second = _Producer()
    await pipeline.project(records, second, renew)  # type: ignore[arg-type]  # ...one at a time

    assert _event_bodies(second) == ["first"]
    assert len(renewed) == 2  # a fresh producer after each refusal
    assert [_event_bodies(p) for p in renewed] == [[], ["last"]]
    dead = [(v, e) for p in renewed for v, e in zip(_values(p), _errors(p), strict=False)]
    assert [Command.model_validate_json(v).id for v, _ in dead] == [commands[1].id, commands[2].id]
    assert all("event refused" in e for _, e in dead)


def _values(producer: _Producer) -> list[bytes]:
    return [v for t, v, _ in producer.sent if t == _TOPICS.deadletter]
