"""The outbound sender's decisions without engines: backoff, retries, the ledger, idempotency."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from tidewire_outbound.graph_api import Refused, Retry, Sent, Unknown, Verdict
from tidewire_outbound.ledger_cassandra import Claimed
from tidewire_outbound.sender import (
    BACKOFF_CAP_S,
    IN_FLIGHT_AT_RESTART,
    Outbound,
    backoff_s,
    next_delay,
    result_command,
    send_with_retries,
)
from tidewire_platform.acks import Ack
from tidewire_platform.contracts import Command, Event, stable_id
from tidewire_platform.outbound_jobs import Job, job_of
from tidewire_platform.readmodel import Message, Ticket

pytestmark = pytest.mark.unit


# -- backoff ----------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    lows = [backoff_s(n, 0.0) for n in range(1, 10)]
    highs = [backoff_s(n, 0.999999) for n in range(1, 10)]
    assert lows[:4] == [0.25, 0.5, 1.0, 2.0]
    assert all(
        b == pytest.approx(2 * a, rel=1e-5) for a, b in zip(lows[:4], highs[:4], strict=True)
    )
    assert max(highs) <= BACKOFF_CAP_S
    assert backoff_s(30, 0.5) == pytest.approx(BACKOFF_CAP_S * 0.75)


def test_retry_after_wins_over_backoff() -> None:
    assert next_delay(Retry("429: slow", 0.0), 5, 0.9) == 0.0
    assert next_delay(Retry("429: slow", 3.0), 1, 0.9) == 3.0
    assert next_delay(Retry("503: down"), 1, 0.0) == 0.25


# -- the retry loop, on a fake clock ----------------------------------------------------------


@dataclass
class Clock:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _answers(*verdicts: Verdict, each_takes: float = 0.0, clock: Clock) -> Any:
    remaining = list(verdicts)
    timeouts: list[float] = []

    async def attempt(timeout_s: float) -> Verdict:
        timeouts.append(timeout_s)
        clock.now += each_takes
        return remaining.pop(0)

    attempt.timeouts = timeouts  # type: ignore[attr-defined]
    return attempt


async def test_retries_until_sent() -> None:
    clock = Clock()
    attempt = _answers(Retry("429: a", 0.0), Retry("network: refused"), Sent("w"), clock=clock)
    result = await send_with_retries(
        attempt, 60, 10, clock=clock, sleep=clock.sleep, rand=lambda: 0
    )
    assert result == Sent("w")
    assert clock.slept == [0.0, 0.5]  # Retry-After 0, then our backoff after attempt 2


async def test_a_refusal_stops_at_once() -> None:
    clock = Clock()
    attempt = _answers(Retry("429: x"), Refused("131026: undeliverable"), Sent("w"), clock=clock)
    result = await send_with_retries(
        attempt, 60, 10, clock=clock, sleep=clock.sleep, rand=lambda: 0
    )
    assert result == Refused("131026: undeliverable")


async def test_an_unknown_answer_stops_at_once_and_is_never_retried() -> None:
    clock = Clock()
    attempt = _answers(Unknown("unknown: 500: x"), Sent("w"), clock=clock)
    result = await send_with_retries(attempt, 60, 10, clock=clock, sleep=clock.sleep)
    assert result == Unknown("unknown: 500: x")
    assert attempt.timeouts == [10]  # one call only


async def test_gives_up_with_the_last_reason_before_the_deadline() -> None:
    clock = Clock()
    attempt = _answers(*[Retry("429: too many", 4.0)] * 10, each_takes=1.0, clock=clock)
    result = await send_with_retries(
        attempt, 12, 10, clock=clock, sleep=clock.sleep, rand=lambda: 0
    )
    # Attempts at t=0, 5, 10 (each takes 1 s, then 4 s Retry-After); waiting again would end
    # at 15 > 12.
    assert isinstance(result, Refused)
    assert result.reason.startswith("429: too many (gave up after 3 attempts")
    assert clock.slept == [4.0, 4.0]
    assert clock.now < 12


async def test_a_retry_after_beyond_the_deadline_gives_up_without_waiting() -> None:
    clock = Clock()
    attempt = _answers(Retry("429: later", 3600.0), clock=clock)
    result = await send_with_retries(attempt, 60, 10, clock=clock, sleep=clock.sleep)
    assert isinstance(result, Refused)
    assert clock.slept == []


async def test_each_attempt_gets_the_whole_attempt_timeout_even_near_the_deadline() -> None:
    clock = Clock()
    attempt = _answers(
        Retry("429: a", 0.0), Retry("429: b", 0.0), Sent("w"), each_takes=9.0, clock=clock
    )
    await send_with_retries(attempt, 20, 10, clock=clock, sleep=clock.sleep)
    assert attempt.timeouts == [10.0, 10.0, 10.0]  # short calls only make unknowns


# -- events in, commands out --------------------------------------------------------------------


def _record(payload: dict[str, Any], type_: str = "message.created") -> bytes:
    """An events-log record of company c1, ticket t1."""
    return Event(
        id="e1",
        type=type_,
        company_id="c1",
        ticket_id="t1",
        command_id="m1",
        occurred_at=1,
        accepted_at=1,
        payload=payload,
    ).to_bytes()


def _event(from_me: bool = True, type_: str = "message.created", **message: Any) -> bytes:
    return _record(
        {
            "message": {"id": "m1", "fromMe": from_me, "body": "olá", **message},
            "ticket": {"id": "t1", "whatsappId": "pn1", "contactId": "5511"},
        },
        type_,
    )


def test_only_agents_new_messages_are_jobs() -> None:
    assert job_of(_event()) == Job("c1", "t1", "m1", "pn1", "5511", "olá")
    assert job_of(_event(from_me=False)) is None
    assert job_of(_event(type_="message.updated")) is None
    assert job_of(b"{not json") is None
    assert job_of(b'{"fromMe":true') is None  # passes the quick check, then fails to parse
    assert job_of(_event(id=None)) is None


def test_agent_messages_as_the_projector_writes_them_pass_the_quick_check() -> None:
    """The skip-before-parse rule relies on compact JSON of the read-model documents."""
    message = Message(
        id="m1",
        company_id="c1",
        ticket_id="t1",
        position=0,
        from_me=True,
        created_at=1,
        updated_at=1,
        body="olá",
    )
    ticket = Ticket(
        id="t1", company_id="c1", contact_id="5511", whatsapp_id="pn1", created_at=1, updated_at=1
    )
    raw = _record({"message": message.wire(), "ticket": ticket.wire()})
    assert job_of(raw) == Job("c1", "t1", "m1", "pn1", "5511", "olá")


def test_result_commands_have_stable_ids() -> None:
    job = Job("c1", "t1", "m1", "pn1", "5511")
    sent = result_command(job, Sent("wamid.X"))
    assert (sent.id, sent.type, sent.payload) == (
        stable_id("c1", "dispatched", "m1"),
        "message.dispatched",
        {"message_id": "m1", "wamid": "wamid.X"},
    )
    failed = result_command(job, Refused("131026: undeliverable"))
    assert (failed.id, failed.type, failed.payload) == (
        stable_id("c1", "failed", "m1"),
        "message.failed",
        {"message_id": "m1", "error": "131026: undeliverable"},
    )
    unknown = result_command(job, Unknown("unknown: 500: oops"))
    assert (unknown.id, unknown.type, unknown.payload) == (
        stable_id("c1", "unknown", "m1"),
        "message.unknown",
        {"message_id": "m1", "error": "unknown: 500: oops"},
    )
    assert result_command(job, Sent("other")).id == sent.id  # a re-send is recognisable


@dataclass(frozen=True)
class Conn:
    company_id: str
    access_token: str | None


@dataclass
class World:
    """Read model, tenants, Graph, the sends ledger and the commands log, in memory."""

    stored: Message | None
    connection: Conn | None = Conn("c1", "tok")
    answers: list[Verdict] = field(default_factory=lambda: [Sent("wamid.1")])
    sends: list[tuple[str, str, str, str]] = field(default_factory=list)
    appended: list[Command] = field(default_factory=list)
    failures: int = 0  # engine errors before an append succeeds
    ledger: dict[tuple[str, str], Claimed] = field(default_factory=dict)
    # What the ledger held at each Graph call: the claim must come first.
    ledger_at_send: list[str | None] = field(default_factory=list)

    async def message(self, company_id: str, message_id: str) -> Message | None:
        return self.stored

    async def connection_for_phone(self, phone_number_id: str) -> Conn | None:
        return self.connection

    async def send_text(
        self, phone_number_id: str, access_token: str, to: str, body: str, timeout_s: float
    ) -> Verdict:
        self.sends.append((phone_number_id, access_token, to, body))
        held = self.ledger.get(("c1", "m1"))
        self.ledger_at_send.append(held.state if held else None)
        return self.answers.pop(0)

    async def claim(self, company_id: str, message_id: str) -> Claimed | None:
        held = self.ledger.get((company_id, message_id))
        if held is None:
            self.ledger[(company_id, message_id)] = Claimed("in_flight", None, None)
        return held

    async def finish(
        self, company_id: str, message_id: str, state: str, wamid: str | None, reason: str | None
    ) -> None:
        self.ledger[(company_id, message_id)] = Claimed(state, wamid, reason)

    async def append(self, command: Command) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("kafka down")
        self.appended.append(command)

    def outbound(self) -> Outbound:
        async def no_sleep(_: float) -> None:
            return None

        return Outbound(self, self, self, self, self.append, 60, 10, sleep=no_sleep)


def _msg(**changes: Any) -> Message:
    base = Message(
        id="m1",
        company_id="c1",
        ticket_id="t1",
        position=3,
        body="olá",
        from_me=True,
        ack=Ack.PENDING,
        created_at=1,
        updated_at=1,
    )
    return base.model_copy(update=changes)


async def test_sends_with_the_connections_token_and_records_the_wamid() -> None:
    world = World(_msg())
    assert await world.outbound().handle(_event()) == "dispatched"
    assert world.sends == [("pn1", "tok", "5511", "olá")]
    assert world.ledger_at_send == ["in_flight"]  # recorded before Graph was called
    assert world.ledger[("c1", "m1")] == Claimed("sent", "wamid.1", None)
    [command] = world.appended
    assert (command.type, command.payload["wamid"], command.company_id) == (
        "message.dispatched",
        "wamid.1",
        "c1",
    )


@pytest.mark.parametrize(
    "message",
    [
        _msg(wamid="wamid.old"),
        _msg(ack=Ack.FAILED, error="x"),
        _msg(ack=Ack.UNKNOWN, error="x"),
        _msg(wamid="w", ack=Ack.DELIVERED),
    ],
)
async def test_a_redelivered_event_is_not_sent_again(message: Message) -> None:
    world = World(message)
    assert await world.outbound().handle(_event()) == "skipped"
    assert (world.sends, world.appended) == ([], [])


async def test_a_twin_record_is_not_sent_again_before_its_result_is_projected() -> None:
    """The projector may append a message's outbound record twice (crash between the record
    and its event); the read model still shows the message unsent when the twin arrives."""
    world = World(_msg())
    outbound = world.outbound()
    assert await outbound.handle(_event()) == "dispatched"
    world.answers.append(Sent("wamid.2"))
    assert await outbound.handle(_event()) == "skipped"
    assert len(world.sends) == len(world.appended) == 1


async def test_missing_messages_and_other_events_are_left_alone() -> None:
    unknown, customers = World(None), World(_msg())
    assert await unknown.outbound().handle(_event()) == "missing"
    assert await customers.outbound().handle(_event(from_me=False)) == "ignored"
    assert (unknown.sends, unknown.appended) == ([], [])
    assert (customers.sends, customers.appended) == ([], [])


@pytest.mark.parametrize(
    ("connection", "reason"),
    [
        (Conn("c1", None), "no-access-token: "),
        (Conn("c1", ""), "no-access-token: "),
        (None, "no-connection: "),
        (Conn("someone-else", "tok"), "no-connection: "),
    ],
)
async def test_no_usable_connection_fails_without_calling_graph(
    connection: Conn | None, reason: str
) -> None:
    world = World(_msg(), connection=connection)
    assert await world.outbound().handle(_event()) == "failed"
    assert world.sends == []
    [command] = world.appended
    assert command.type == "message.failed"
    assert command.payload["error"].startswith(reason)


async def test_a_refusal_is_recorded_as_failed_with_graphs_reason() -> None:
    world = World(_msg(), answers=[Retry("429: slow", 0.0), Refused("131026: undeliverable")])
    assert await world.outbound().handle(_event()) == "failed"
    assert len(world.sends) == 2
    assert world.appended[0].payload == {"message_id": "m1", "error": "131026: undeliverable"}


async def test_an_engine_error_retries_the_append_not_the_send() -> None:
    world = World(_msg(), failures=2)
    assert await world.outbound().handle(_event()) == "dispatched"
    assert len(world.sends) == 1
    assert [c.type for c in world.appended] == ["message.dispatched"]


async def test_no_trustworthy_answer_marks_the_message_unknown_and_never_resends() -> None:
    world = World(_msg(), answers=[Unknown("unknown: 500: oops"), Sent("wamid.2")])
    outbound = world.outbound()
    assert await outbound.handle(_event()) == "unknown"
    assert len(world.sends) == 1
    [command] = world.appended
    assert (command.type, command.payload["error"]) == ("message.unknown", "unknown: 500: oops")
    assert world.ledger[("c1", "m1")].state == "unknown"
    assert await outbound.handle(_event()) == "skipped"  # redelivered: still one send
    assert len(world.sends) == 1


async def test_a_send_found_in_flight_is_marked_unknown_without_calling_graph() -> None:
    """A process killed mid-send left its claim: the redelivered record must not send again."""
    world = World(_msg())
    world.ledger[("c1", "m1")] = Claimed("in_flight", None, None)
    assert await world.outbound().handle(_event()) == "unknown"
    assert world.sends == []
    [command] = world.appended
    assert (command.type, command.payload["error"]) == ("message.unknown", IN_FLIGHT_AT_RESTART)
    assert world.ledger[("c1", "m1")].state == "unknown"


async def test_retries_that_never_reached_graph_end_failed_not_unknown() -> None:
    world = World(_msg(), answers=[Retry("network: refused")] * 200)
    world.connection = Conn("c1", "tok")
    outbound = Outbound(world, world, world, world, world.append, 5, 10, sleep=_no_sleep)
    assert await outbound.handle(_event()) == "failed"
    [command] = world.appended
    assert command.type == "message.failed"
    assert command.payload["error"].startswith("network: refused (gave up after")


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)
