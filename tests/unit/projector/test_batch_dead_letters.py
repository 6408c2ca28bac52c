"""A command whose events cannot be written is dead-lettered with the reason, and the batch
goes on: one tenant's command must never stop the agent that folds every partition. Checked
when the command is decided, again when a journaled outcome is replayed (it may predate the
check), and when the broker refuses a record all the same."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError

from tests.support.faust_records import record_of
from tidewire_platform.contracts import Command, Event
from tidewire_projector import app as projector
from tidewire_projector.domain import Outcome
from tidewire_projector.journal_cassandra import Journaled, Unit
from tidewire_projector.store_cached import CachedStore
from tidewire_projector.store_memory import MemoryStore

pytestmark = pytest.mark.unit


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
        refusing = self.refusing and topic == projector.settings.events_topic
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


@pytest.fixture(autouse=True)
def _no_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projector._res, "tail", _Tail())


def _errors(producer: _Producer) -> list[str]:
    s = projector.settings
    return [dict(h or [])["error"].decode() for t, _, h in producer.sent if t == s.deadletter_topic]


def _event_bodies(producer: _Producer) -> list[str]:
    s = projector.settings
    events = [Event.from_bytes(v) for t, v, _ in producer.sent if t == s.events_topic]
    return [e.payload["message"]["body"] for e in events]


async def test_a_command_whose_event_is_too_big_is_dead_lettered_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(projector.settings, "projector_max_event_bytes", 3000)
    cassandra = _Cassandra()
    big, small = _inbound("A", "w1", "x" * 2000), _inbound("B", "w2", "fine")
    batch = projector._Batch(CachedStore(cassandra))  # type: ignore[arg-type]
    await batch.fold([record_of(big, 10), record_of(small, 11)])
    producer = _Producer()
    await batch.finish(producer)  # type: ignore[arg-type]

    assert sorted(batch.outcomes) == ["applied", "deadletter"]
    [error] = _errors(producer)
    assert error.startswith("event message.created ")
    assert "bytes exceeds the 3,000 bytes an event may have" in error
    assert _event_bodies(producer) == ["fine"]
    # Nothing of the dead-lettered command was written: no read model without its event.
    assert [u.outcome.company_id for u in cassandra.flushed] == ["B"]


async def test_a_replayed_outcome_holding_an_oversize_event_appends_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(projector.settings, "projector_max_event_bytes", 3000)
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
    batch = projector._Batch(CachedStore(_Cassandra(journal)))  # type: ignore[arg-type]
    await batch.fold([record_of(command, 7)])
    producer = _Producer()
    await batch.finish(producer)  # type: ignore[arg-type]

    assert batch.outcomes == ["replayed"]
    [error] = _errors(producer)
    assert "event message.created e0 of 5," in error
    assert _event_bodies(producer) == ["ok"]


async def test_records_refused_all_the_same_are_found_one_at_a_time() -> None:
    store = CachedStore(_Cassandra())  # type: ignore[arg-type]
    commands = [
        _inbound("A", "w1", "first"),
        _inbound("B", "w2", "HUGE for the producer"),
        _inbound("C", "w3", "BAD for the broker"),
        _inbound("D", "w4", "last"),
    ]
    records = [record_of(c, 20 + n) for n, c in enumerate(commands)]
    batch = projector._Batch(store)
    await batch.fold(records)
    first = _Producer()
    with pytest.raises(MessageSizeTooLargeError):  # the agent renews and retries...
        await batch.finish(first)  # type: ignore[arg-type]

    renewed: list[_Producer] = []

    async def renew() -> Any:
        renewed.append(_Producer())
        return renewed[-1]

    retry = projector._Batch(store)
    await retry.fold(records)
    second = _Producer()
    await retry.finish(second, renew)  # type: ignore[arg-type]  # ...one record at a time

    assert _event_bodies(second) == ["first"]
    assert len(renewed) == 2  # a fresh producer after each refusal
    assert [_event_bodies(p) for p in renewed] == [[], ["last"]]
    dead = [(v, e) for p in renewed for v, e in zip(_values(p), _errors(p), strict=False)]
    assert [Command.model_validate_json(v).id for v, _ in dead] == [commands[1].id, commands[2].id]
    assert all("event refused" in e for _, e in dead)


def _values(producer: _Producer) -> list[bytes]:
    s = projector.settings
    return [v for t, v, _ in producer.sent if t == s.deadletter_topic]
