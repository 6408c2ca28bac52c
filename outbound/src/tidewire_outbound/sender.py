"""Agents' messages out to WhatsApp: an outbound record in, at most one Graph send, a command out.

The outbound process (`tidewire outbound`, its own consumer group) reads the outbound topic,
where the projector puts a copy of every agent's new message (`message.created` with `fromMe`)
as it appends the event itself (again on a replay: twins are skipped by the ledger's claim).
For each it asks the Graph API to send the text, with the tenant connection's access token,
and records the answer in the commands log, where the projector's domain folds it like any
other command:

- `message.dispatched {message_id, wamid}` once Graph accepted it: status webhooks name that
  wamid, so delivered/read can move the message's ack;
- `message.failed {message_id, error}` when the message provably did not reach Graph: Graph
  refused it, the connection has no access token, or every attempt was turned away (connection
  refused, 429) until the deadline: the agent sees ack -1 and the reason;
- `message.unknown {message_id, error}` when the request left and no trustworthy answer came
  (timeout, 5xx, a dropped connection) or an earlier send of it was in flight when its process
  stopped: it may or may not have reached the customer, ack -2. It is never sent again by
  itself (Graph takes no idempotency key); the agent may send it again as a new message.

At most once: before calling Graph the send is claimed in the sends ledger (`outbound_sends`,
lightweight transaction); its outcome is written there once the result command is in the log.
A delivery that finds the claim still in flight (a SIGKILL mid-send, then the redelivered
record; another process after a rebalance) records `unknown` and does not call Graph. Result
commands have stable ids (`stable_id(company, "dispatched" | "failed" | "unknown",
message_id)`), so appending one twice is harmless. Messages whose outcome the read models
already hold (a wamid, a negative ack) are skipped without a claim: that covers outcomes
recorded before the ledger existed.

Retries: only what provably did not reach Graph is attempted again, with exponential backoff and
jitter or after the server's `Retry-After`, until `graph_api_deadline_s`. Engine errors
(Cassandra, Kafka) are retried without limit: the sender stalls rather than drop a message.
Records are handled one at a time, in log order.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from aiokafka import AIOKafkaProducer

from tidewire_outbound.graph_api import Refused, Retry, Sent, Unknown, Verdict
from tidewire_outbound.ledger_cassandra import Claimed, SendState
from tidewire_platform.acks import Ack
from tidewire_platform.contracts import Command, stable_id
from tidewire_platform.kafka_io import append
from tidewire_platform.metrics import OUTBOUND_SENDS
from tidewire_platform.outbound_jobs import Job, job_of
from tidewire_platform.readmodel import Message
from tidewire_platform.settings import StackSettings

log = logging.getLogger("tidewire.outbound")

BACKOFF_BASE_S = 0.5  # first delay's ceiling; doubles per attempt
BACKOFF_CAP_S = 30.0
ENGINE_RETRY_CAP_S = 10.0

T = TypeVar("T")
Attempt = Callable[[float], Awaitable[Verdict]]  # timeout in seconds -> one attempt's verdict
AppendCommand = Callable[[Command], Awaitable[None]]


class MessageView(Protocol):
    async def message(self, company_id: str, message_id: str) -> Message | None: ...


class Credentials(Protocol):
    """What the agent needs of a tenant's WhatsApp connection."""

    @property
    def company_id(self) -> str: ...
    @property
    def access_token(self) -> str | None: ...


class ConnectionView(Protocol):
    async def connection_for_phone(self, phone_number_id: str) -> Credentials | None: ...


class Sender(Protocol):
    async def send_text(
        self, phone_number_id: str, access_token: str, to: str, body: str, timeout_s: float
    ) -> Verdict: ...


def backoff_s(attempt: int, rand: float) -> float:
    """Delay after failed attempt number `attempt` (from 1): exponential up to a cap, with
    equal jitter (half fixed, half random by `rand` in [0, 1)) so retries of many messages
    throttled at once spread out instead of returning together."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))
    return ceiling / 2 + rand * ceiling / 2


def next_delay(verdict: Retry, attempt: int, rand: float) -> float:
    """The server's `Retry-After` when it gave one, else our backoff."""
    return verdict.retry_after if verdict.retry_after is not None else backoff_s(attempt, rand)


class Ledger(Protocol):
    """The sends ledger (ledger_cassandra.py)."""

    async def claim(self, company_id: str, message_id: str) -> Claimed | None: ...
    async def finish(
        self,
        company_id: str,
        message_id: str,
        state: SendState,
        wamid: str | None,
        reason: str | None,
    ) -> None: ...


Outcome = Sent | Refused | Unknown


async def send_with_retries(
    attempt: Attempt,
    deadline_s: float,
    attempt_timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> Outcome:
    """Attempt until sent, refused, unknown, or the next wait after an attempt that provably
    did not reach Graph would end past `deadline_s` (then refused: it was never sent). Every
    call gets the whole `attempt_timeout_s`, even the last before the deadline: a call cut
    short could only turn a send into an unknown."""
    start = clock()
    tries = 0
    while True:
        verdict = await attempt(attempt_timeout_s)
        tries += 1
        if not isinstance(verdict, Retry):
            return verdict
        delay = next_delay(verdict, tries, rand())
        elapsed = clock() - start
        if elapsed + delay >= deadline_s:
            return Refused(f"{verdict.reason} (gave up after {tries} attempts in {elapsed:.1f} s)")
        log.info("outbound: attempt %d: %s; again in %.2f s", tries, verdict.reason, delay)
        await sleep(delay)


_KINDS: dict[type, tuple[str, SendState]] = {
    Sent: ("dispatched", "sent"),
    Refused: ("failed", "failed"),
    Unknown: ("unknown", "unknown"),
}


def result_command(job: Job, result: Outcome) -> Command:
    """The command recording what became of `job` (stable id: appending it twice is harmless)."""
    kind = _KINDS[type(result)][0]
    payload: dict[str, str] = {"message_id": job.message_id}
    if isinstance(result, Sent):
        payload["wamid"] = result.wamid
    else:
        payload["error"] = result.reason
    return Command(
        id=stable_id(job.company_id, kind, job.message_id),
        type=f"message.{kind}",
        company_id=job.company_id,
        ticket_id=job.ticket_id,
        payload=payload,
    )


def already_handled(message: Message) -> bool:
    """True when the read models hold an outcome of the message already (a wamid, or failed
    or unknown): recorded by an earlier delivery, with or without a ledger row."""
    return message.wamid is not None or message.ack < Ack.PENDING


IN_FLIGHT_AT_RESTART = (
    "unknown: a send of this message was in flight when its sender stopped; it may have "
    "reached the customer, so it is not sent again"
)


class Outbound:
    """Handles outbound records one at a time (see the module docstring)."""

    def __init__(
        self,
        messages: MessageView,
        connections: ConnectionView,
        graph: Sender,
        ledger: Ledger,
        append_command: AppendCommand,
        deadline_s: float,
        attempt_timeout_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._messages = messages
        self._connections = connections
        self._graph = graph
        self._ledger = ledger
        self._append = append_command
        self._deadline_s = deadline_s
        self._attempt_timeout_s = attempt_timeout_s
        self._clock = clock
        self._sleep = sleep
        self._rand = rand

    async def handle(self, raw: bytes) -> str:
        """Act on one record; returns what happened (ignored, missing, skipped, dispatched,
        failed, unknown), for logs, metrics and tests."""
        outcome = await self._handle(raw)
        OUTBOUND_SENDS.labels(outcome).inc()
        return outcome

    async def _handle(self, raw: bytes) -> str:
        job = job_of(raw)
        if job is None:
            return "ignored"
        message = await self._steadily(
            "read the message", lambda: self._messages.message(job.company_id, job.message_id)
        )
        if message is None:
            # Read models are written before the event, so this is a rebuild in progress or
            # a foreign record; the projector would refuse a result command for it anyway.
            log.warning("outbound: message %s of %s not found", job.message_id, job.company_id)
            return "missing"
        if already_handled(message):
            return "skipped"
        taken = await self._steadily(
            "claim the send", lambda: self._ledger.claim(job.company_id, job.message_id)
        )
        if taken is not None and taken.finished:
            return "skipped"  # a twin or redelivered record: the outcome is in the log
        if taken is not None:
            # Claimed before, never finished: that send may have left. Never again.
            log.warning("outbound: message %s was in flight; marked unknown", job.message_id)
            result: Outcome = Unknown(IN_FLIGHT_AT_RESTART)
        else:
            result = await self._deliver(job, message.body or job.body)
        if not isinstance(result, Sent):
            log.warning("outbound: message %s: %s", job.message_id, result.reason)
        command = result_command(job, result)
        await self._steadily("append the result", lambda: self._append(command))
        wamid = result.wamid if isinstance(result, Sent) else None
        reason = None if isinstance(result, Sent) else result.reason
        state = _KINDS[type(result)][1]
        await self._steadily(
            "record the outcome",
            lambda: self._ledger.finish(job.company_id, job.message_id, state, wamid, reason),
        )
        return _KINDS[type(result)][0]

    async def _deliver(self, job: Job, body: str) -> Outcome:
        connection = await self._steadily(
            "read the connection",
            lambda: self._connections.connection_for_phone(job.phone_number_id),
        )
        if connection is None or connection.company_id != job.company_id:
            return Refused(
                f"no-connection: phone number {job.phone_number_id} is not connected to "
                f"company {job.company_id}"
            )
        token = connection.access_token
        if not token:
            return Refused(
                f"no-access-token: phone number {job.phone_number_id} has no Graph API "
                "access token (tidewire tenant add --access-token)"
            )
        return await send_with_retries(
            lambda timeout_s: self._graph.send_text(
                job.phone_number_id, token, job.to, body, timeout_s
            ),
            self._deadline_s,
            self._attempt_timeout_s,
            clock=self._clock,
            sleep=self._sleep,
            rand=self._rand,
        )

    async def _steadily(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        """`op()`, retried with capped backoff while an engine fails it."""
        attempt = 0
        while True:
            try:
                return await op()
            except Exception:
                attempt += 1
                delay = min(ENGINE_RETRY_CAP_S, backoff_s(attempt, self._rand()))
                log.exception(
                    "outbound: could not %s (attempt %d); again in %.1f s", what, attempt, delay
                )
                await self._sleep(delay)


def commands_appender(producer: AIOKafkaProducer, settings: StackSettings) -> AppendCommand:
    """Append commands the way ingest does: keyed and partitioned by company, acks=all."""

    async def append_command(command: Command) -> None:
        await append(
            producer, settings, settings.commands_topic, command.company_id, command.to_bytes()
        )

    return append_command
