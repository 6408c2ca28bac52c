"""Agents' messages out to WhatsApp: an outbound record in, at most one Graph send, a command out.

The projector's second faust agent reads the outbound topic, where the projector puts a copy of
every agent's new message (`message.created` with `fromMe`) before appending the event itself.
For each it asks the Graph API to send the text, with the tenant connection's access token, and
records the answer in the commands log, where the projector's domain folds it like any other
command:

- `message.dispatched {message_id, wamid}` once Graph accepted it: status webhooks name that
  wamid, so delivered/read can move the message's ack;
- `message.failed {message_id, error}` when Graph refused it, the retries ran past the
  deadline, or the connection has no access token: the agent sees ack -1 and the reason.

Both have stable ids (`stable_id(company, "dispatched" | "failed", message_id)`), so appending
one twice is harmless. Redelivered records (a restart before faust committed the offset) are
recognised in the read model: a message with a wamid or ack -1 is not sent again; a twin record
(the projector crashed between a record and its event) is also recognised by this process's
memory of the messages it handled lately, before its result was projected. What is left
is a narrow window (Graph accepted, the worker died before the result was projected) in which a
message can reach the customer twice; the Graph API offers no idempotency key to close it.

Retries: 429, 5xx, throttling codes and network errors are retried with exponential backoff and
jitter, or after the server's `Retry-After`, until `graph_api_deadline_s`. Engine errors
(Cassandra, Kafka) are retried without limit: the agent stalls rather than drop a message.
Records are handled one at a time, in log order, in a stream separate from command projection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from tidewire_platform.contracts import Command, Event, stable_id
from tidewire_platform.kafka_io import append
from tidewire_platform.readmodel import ACK_FAILED, Message
from tidewire_platform.settings import StackSettings
from tidewire_projector.graph_api import GraphClient, Refused, Retry, Sent, Verdict

log = logging.getLogger("tidewire.projector.outbound")

BACKOFF_BASE_S = 0.5  # first delay's ceiling; doubles per attempt
BACKOFF_CAP_S = 30.0
ATTEMPT_TIMEOUT_S = 10.0  # one HTTP call; never more than what is left of the deadline
MIN_ATTEMPT_TIMEOUT_S = 1.0  # ...but enough for an answer (the deadline may be overrun by this)
ENGINE_RETRY_CAP_S = 10.0
RECENT_JOBS = 10_000  # messages remembered as handled, against twin records

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


@dataclass(frozen=True)
class Job:
    """One agent's message to send: whose, where from (phone_number_id) and to whom."""

    company_id: str
    ticket_id: str | None
    message_id: str
    phone_number_id: str
    to: str


# Every event passes through this agent, and almost none is an agent's message. Events are
# compact JSON (`Event.to_bytes`), so an agent's message always holds this exact text: records
# without it are skipped before paying for a full parse (one per delivered event otherwise).
_AGENT_MARK = b'"fromMe":true'


def job_of(raw: bytes) -> Job | None:
    """The send an events-log record asks for; None for everything but an agent's new message."""
    if _AGENT_MARK not in raw:
        return None
    try:
        event = Event.from_bytes(raw)
    except ValidationError as exc:
        log.warning("outbound: skipping an unreadable events record: %s", exc)
        return None
    if event.type != "message.created":
        return None
    message: Any = event.payload.get("message")
    ticket: Any = event.payload.get("ticket")
    if not isinstance(message, dict) or message.get("fromMe") is not True:
        return None
    if not isinstance(ticket, dict):
        ticket = {}
    message_id, phone, to = message.get("id"), ticket.get("whatsappId"), ticket.get("contactId")
    if not (isinstance(message_id, str) and isinstance(phone, str) and isinstance(to, str)):
        log.warning("outbound: agent message without id, connection or contact: %s", event.id)
        return None
    return Job(event.company_id, event.ticket_id, message_id, phone, to)


def backoff_s(attempt: int, rand: float) -> float:
    """Delay after failed attempt number `attempt` (from 1): exponential up to a cap, with
    equal jitter (half fixed, half random by `rand` in [0, 1)) so retries of many messages
    throttled at once spread out instead of returning together."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))
    return ceiling / 2 + rand * ceiling / 2


def next_delay(verdict: Retry, attempt: int, rand: float) -> float:
    """The server's `Retry-After` when it gave one, else our backoff."""
    return verdict.retry_after if verdict.retry_after is not None else backoff_s(attempt, rand)


async def send_with_retries(
    attempt: Attempt,
    deadline_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> Sent | Refused:
    """Attempt until sent, refused, or the next wait would end past `deadline_s`."""
    start = clock()
    tries = 0
    while True:
        remaining = deadline_s - (clock() - start)
        verdict = await attempt(min(ATTEMPT_TIMEOUT_S, max(remaining, MIN_ATTEMPT_TIMEOUT_S)))
        tries += 1
        if not isinstance(verdict, Retry):
            return verdict
        delay = next_delay(verdict, tries, rand())
        elapsed = clock() - start
        if elapsed + delay >= deadline_s:
            return Refused(f"{verdict.reason} (gave up after {tries} attempts in {elapsed:.1f} s)")
        log.info("outbound: attempt %d: %s; again in %.2f s", tries, verdict.reason, delay)
        await sleep(delay)


def result_command(job: Job, result: Sent | Refused) -> Command:
    """The command recording what became of `job` (stable id: appending it twice is harmless)."""
    if isinstance(result, Sent):
        return Command(
            id=stable_id(job.company_id, "dispatched", job.message_id),
            type="message.dispatched",
            company_id=job.company_id,
            ticket_id=job.ticket_id,
            payload={"message_id": job.message_id, "wamid": result.wamid},
        )
    return Command(
        id=stable_id(job.company_id, "failed", job.message_id),
        type="message.failed",
        company_id=job.company_id,
        ticket_id=job.ticket_id,
        payload={"message_id": job.message_id, "error": result.reason},
    )


def already_handled(message: Message) -> bool:
    """True when an earlier delivery of the event already sent or failed the message."""
    return message.wamid is not None or message.ack == ACK_FAILED


class Outbound:
    """Handles outbound records one at a time (see the module docstring)."""

    def __init__(
        self,
        messages: MessageView,
        connections: ConnectionView,
        graph: Sender,
        append_command: AppendCommand,
        deadline_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._messages = messages
        self._connections = connections
        self._graph = graph
        self._append = append_command
        self._deadline_s = deadline_s
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def handle(self, raw: bytes) -> str:
        """Act on one record; returns what happened (ignored, unknown, skipped, dispatched,
        failed), for logs and tests."""
        job = job_of(raw)
        if job is None:
            return "ignored"
        if (job.company_id, job.message_id) in self._recent:
            return "skipped"  # a twin record: its result may not be projected yet
        message = await self._steadily(
            "read the message", lambda: self._messages.message(job.company_id, job.message_id)
        )
        if message is None:
            # Read models are written before the event, so this is a rebuild in progress or
            # a foreign record; the projector would refuse a result command for it anyway.
            log.warning("outbound: message %s of %s not found", job.message_id, job.company_id)
            return "unknown"
        if already_handled(message):
            return "skipped"
        result = await self._deliver(job, message.body)
        if isinstance(result, Refused):
            log.warning("outbound: message %s failed: %s", job.message_id, result.reason)
        command = result_command(job, result)
        await self._steadily("append the result", lambda: self._append(command))
        self._recent[(job.company_id, job.message_id)] = None
        if len(self._recent) > RECENT_JOBS:
            self._recent.popitem(last=False)
        return "dispatched" if isinstance(result, Sent) else "failed"

    async def _deliver(self, job: Job, body: str) -> Sent | Refused:
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


async def send_agent_messages(
    records: AsyncIterable[bytes],
    settings: StackSettings,
    messages: MessageView,
    connections: ConnectionView,
    producer: AIOKafkaProducer,
) -> None:
    """The agent's body: one HTTP session for the Graph API, every record in order."""
    async with aiohttp.ClientSession() as http:
        outbound = Outbound(
            messages,
            connections,
            GraphClient(settings.graph_api_base, http),
            commands_appender(producer, settings),
            settings.graph_api_deadline_s,
        )
        async for raw in records:
            await outbound.handle(raw)
