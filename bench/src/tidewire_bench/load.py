"""The benchmarks' workload: realistic commands and events, and an open-loop pacer.

Inbound commands are made exactly as ingest makes them (a signed-webhook body run through
ingest's own parser and `command_for`), so the projector folds what it folds in production.
Events appended directly to the events topic look like the projector's `message.created`
events (message, ticket and contact documents), so the edge serialises realistic payloads.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from tidewire_bench.ingest import BENCH_PHONE, webhook
from tidewire_ingest.webhook_delivery import command_for
from tidewire_ingest.whatsapp import parse_webhook
from tidewire_platform.contracts import Command, Event, event_id_for, now_ms, stable_id
from tidewire_platform.kafka_io import append, make_producer
from tidewire_platform.readmodel import Contact, Message, Ticket
from tidewire_platform.settings import StackSettings


def run_id() -> str:
    """A short id that makes one run's companies (and so its tickets and events) unique."""
    return uuid.uuid4().hex[:8]


def companies(prefix: str, run: str, count: int) -> list[str]:
    return [f"{prefix}-{run}-{i:04d}" for i in range(count)]


def wa_id(contact: int) -> str:
    """A customer's WhatsApp id (a phone number, as Meta sends it)."""
    return f"55119{contact:08d}"


def inbound_command(company_id: str, contact: int, run: str, seq: int) -> Command:
    """A customer's text message as ingest would accept it (accepted_at = now)."""
    body = webhook(BENCH_PHONE, f"wamid.bench.{run}.{company_id}.{seq}", wa_id(contact))
    [fact] = parse_webhook(json.loads(body))
    return command_for(company_id, fact)


def direct_event(company_id: str, contact: int, run: str, seq: int) -> Event:
    """A `message.created` event shaped like the projector's (accepted_at = now)."""
    at = now_ms()
    command_id = stable_id("bench", run, company_id, str(seq))
    customer = wa_id(contact)
    text = f"benchmark message {seq}"
    ticket = Ticket(
        id=f"tk-{stable_id(run, company_id, customer)[:24]}",
        company_id=company_id,
        contact_id=customer,
        whatsapp_id=BENCH_PHONE,
        unread_messages=seq + 1,
        last_message=text,
        created_at=at,
        updated_at=at,
    )
    message = Message(
        id=command_id,
        company_id=company_id,
        ticket_id=ticket.id,
        contact_id=customer,
        position=seq,
        wamid=f"wamid.bench.{run}.{seq}",
        body=text,
        from_me=False,
        created_at=at,
        updated_at=at,
    )
    contact_doc = Contact(id=customer, company_id=company_id, name="Bench", number=customer)
    return Event(
        id=event_id_for(command_id),
        type="message.created",
        company_id=company_id,
        ticket_id=ticket.id,
        command_id=command_id,
        occurred_at=at,
        accepted_at=at,
        payload={"message": message.wire(), "ticket": ticket.wire(), "contact": contact_doc.wire()},
    )


async def started_producer(s: StackSettings, client_id: str) -> AIOKafkaProducer:
    """The idempotent producer every tidewire process uses, started; a one-line error (for
    the CLI) when Kafka does not answer."""
    producer = make_producer(s, client_id)
    try:
        await producer.start()
    except KafkaConnectionError as exc:
        await producer.stop()
        raise RuntimeError(
            f"Kafka does not answer at {s.kafka_bootstrap}: start the stack (`tidewire up`)"
        ) from exc
    return producer


async def append_command(producer: AIOKafkaProducer, s: StackSettings, command: Command) -> None:
    await append(producer, s, s.commands_topic, command.company_id, command.to_bytes())


async def append_event(producer: AIOKafkaProducer, s: StackSettings, event: Event) -> None:
    await append(producer, s, s.events_topic, event.company_id, event.to_bytes())


@dataclass(frozen=True)
class Paced:
    """What an open-loop run sent: count, failures, and the seconds it took to send them."""

    sent: int
    failed: int
    seconds: float


async def open_loop(
    rate: float, seconds: float, fire: Callable[[int], Awaitable[object]], tick_s: float = 0.005
) -> Paced:
    """Start `fire(i)` for i = 0, 1, … on a fixed schedule of `rate` per second for `seconds`.

    Open loop: the schedule never waits for earlier sends to finish (a closed loop would slow
    down with the system under test and hide its queueing). Sends due within one tick are
    started together, so the pacer's own cost stays small at thousands per second.
    """
    total = int(rate * seconds)
    failed = 0
    tasks: set[asyncio.Task[object]] = set()

    def done(task: asyncio.Task[object]) -> None:
        nonlocal failed
        tasks.discard(task)
        if task.cancelled() or task.exception() is not None:
            failed += 1

    start = time.perf_counter()
    started = 0
    while started < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while started < due:
            task = asyncio.ensure_future(fire(started))
            tasks.add(task)
            task.add_done_callback(done)
            started += 1
        await asyncio.sleep(tick_s)
    elapsed = time.perf_counter() - start
    if tasks:
        await asyncio.wait(set(tasks))
    return Paced(total, failed, elapsed)


async def as_fast_as_possible(
    count: int, fire: Callable[[int], Awaitable[object]], in_flight: int = 2000
) -> Paced:
    """Run `fire(i)` for i < count with at most `in_flight` outstanding (a pre-load)."""
    start = time.perf_counter()
    failed = 0
    for first in range(0, count, in_flight):
        chunk = range(first, min(count, first + in_flight))
        results = await asyncio.gather(*(fire(i) for i in chunk), return_exceptions=True)
        failed += sum(1 for r in results if isinstance(r, BaseException))
    return Paced(count, failed, time.perf_counter() - start)
