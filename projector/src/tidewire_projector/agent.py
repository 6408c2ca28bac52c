"""The body of the projector's faust agent: each batch through the pipeline until it is
projected, then the lag metric; a batch's appends travel while the next batch is folded and
written.

faust acks a batch's events even when the agent's body raises, so a failure must never
escape: a failed batch is retried until Cassandra and Kafka take it (the journal makes retries
safe).

Overlap. At a helpdesk's pace a batch is one or two commands and four round trips in
sequence (journal lookup, journal write, documents, events append); the last one only waits.
So once batch N's records are handed to the producer, and events for the next batch are
already buffered, the loop goes on to batch N+1 and settles N's acknowledgements only after
N+1 is folded and written, before N+1's records are handed over. What each guarantee rests on:

- Offsets: a batch is acknowledged to faust (`CaughtUp.ack`), so its offsets may be
  committed, only once every record it appended is acknowledged by the broker; batches are
  acknowledged in order. A crash before that replays it.
- Order of the events log: N's records are handed to the producer before N+1's, and the
  producer keeps that order per partition (idempotent, one request in flight per partition).
  At most one batch's appends are in flight: N+1's are handed over only after N's are
  acknowledged.
- Journal before documents before events, per batch: unchanged for each batch. N+1's
  journal and documents may be written before N's events are acknowledged: read models a
  step ahead of the events log, as they are within a batch, and a crash then replays both
  batches from the journal, in log order.
- Retries: if N's appends fail, N+1 (folded and written, nothing handed over) is retried
  with N as one batch, from scratch: the store forgotten, the producer flushed (renewed if
  broken); both batches' commands are journaled, so the retry replays them, appending only
  what the log lacks. If N+1 fails to fold or write while N's appends succeed, N is
  acknowledged and N+1 retried alone, as before.
- Idle: N is left in flight only while events for the next batch are buffered, so a batch
  is never left unacknowledged (nor a failure unretried) waiting for commands that may not
  come.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.errors import OutOfOrderSequenceNumber

from tidewire_platform.metrics import PROJECTOR_BATCH_FAILURES, PROJECTOR_LAG
from tidewire_projector.lag import lag_after
from tidewire_projector.pipeline import REFUSED, Decided, Pipeline, Renew
from tidewire_projector.resources import Resources

log = logging.getLogger("tidewire.projector")

# How long a failed batch waits for appends already handed to the producer.
_SETTLE_S = 30.0
_RETRY_S = 1.0
# After a refused batch, an idempotent producer's sequence numbers for that partition are past
# what the broker holds, and every later batch there is refused like this: a new producer.
_BROKEN: tuple[type[Exception], ...] = (*REFUSED, OutOfOrderSequenceNumber)


class Batches(Protocol):
    """Batches of faust events, each acknowledged when the consumer says (`CaughtUp`)."""

    def __aiter__(self) -> AsyncIterator[list[Any]]: ...

    async def waiting(self) -> None: ...

    async def ack(self, batch: list[Any]) -> None: ...


@dataclass
class _InFlight:
    """A batch written, its records handed to the producer, their acknowledgements pending."""

    records: list[Any]
    decided: Decided
    acks: asyncio.Future[Any]


async def project_batches(
    batches: Batches,
    resources: Resources,
    highwater: Callable[[Any], int | None],
) -> None:
    """Project every batch of `batches` (faust events), in order, acknowledging each once its
    appends are (see the module's docstring)."""
    flight: _InFlight | None = None
    async for records in batches:
        flight = await _project(records, flight, batches, resources)
        if flight is not None and not flight.acks.done():
            waiting = asyncio.ensure_future(batches.waiting())
            try:
                await asyncio.wait({flight.acks, waiting}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
        if flight is not None and flight.acks.done():  # nothing to overlap with: settled now
            await _settle(flight, batches, resources)
            flight = None
        for partition, behind in lag_after(records, highwater).items():
            PROJECTOR_LAG.labels(str(partition)).set(behind)
    if flight is not None:  # the stream stopped: acknowledged if it lands, else replayed
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_settle(flight, batches, resources), _SETTLE_S)


async def _project(
    records: list[Any], before: _InFlight | None, batches: Batches, resources: Resources
) -> _InFlight | None:
    """Fold and write `records` while `before`'s appends travel, then settle `before`, then
    hand `records`' appends over. Returns them in flight, or None when a retry settled them."""
    pipeline, producer = await resources.get()
    failure: BaseException | None = None
    try:
        decided = await pipeline.fold(records)
        await pipeline.write()
    except Exception as exc:
        failure = exc
    if before is not None:
        if await _landed(before):
            await _acknowledged(before, batches)
        else:  # nothing of `records` handed over yet: both from scratch, as one batch
            records = [*before.records, *records]
            failure = before.acks.exception() if not before.acks.cancelled() else None
            failure = failure or RuntimeError("the events producer was stopped")
    if failure is None:
        try:
            return _InFlight(records, decided, await pipeline.hand_over(decided, producer))
        except Exception as exc:
            failure = exc
    renew = await _recover(failure, pipeline, producer, resources)
    await project_until_done(records, resources, renew)
    await batches.ack(records)
    return None


async def _landed(flight: _InFlight) -> bool:
    """Whether `flight`'s appends were all acknowledged (waiting for them)."""
    with contextlib.suppress(Exception):
        await asyncio.shield(flight.acks)
    return not flight.acks.cancelled() and flight.acks.exception() is None


async def _acknowledged(flight: _InFlight, batches: Batches) -> None:
    Pipeline.count(flight.decided)
    await batches.ack(flight.records)


async def _settle(flight: _InFlight, batches: Batches, resources: Resources) -> None:
    """Acknowledge `flight` once its appends are; if they failed, project it again until done."""
    if await _landed(flight):
        await _acknowledged(flight, batches)
        return
    pipeline, producer = await resources.get()
    exc = flight.acks.exception() if not flight.acks.cancelled() else None
    renew = await _recover(exc, pipeline, producer, resources)
    await project_until_done(flight.records, resources, renew)
    await batches.ack(flight.records)


async def project_until_done(
    records: list[Any], resources: Resources, renew: Renew | None = None
) -> None:
    """Project `records`, retrying from scratch after any failure (`renew`: the appends one
    record at a time, as after a refused record)."""
    while True:
        pipeline, producer = await resources.get()
        try:
            await pipeline.project(records, producer, renew)
            return
        except Exception as exc:
            renew = await _recover(exc, pipeline, producer, resources) or renew


async def _recover(
    exc: BaseException | None, pipeline: Pipeline, producer: Any, resources: Resources
) -> Renew | None:
    """After a failed attempt: memory forgotten, appends in flight settled, a new producer if
    the broker refused a record (then returned: the retry appends one record at a time)."""
    PROJECTOR_BATCH_FAILURES.inc()
    log.error("projecting a batch failed; retrying it", exc_info=exc)
    pipeline.store.clear()  # memory may be ahead of Cassandra now
    # Appends handed to the producer before the failure may still land: let them land or
    # fail before the retry reads the log for what it already holds, or it would append them
    # again.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.flush(), _SETTLE_S)
    renew: Renew | None = None
    if isinstance(exc, _BROKEN):
        # A record refused by the broker: the retry finds it one record at a time.
        renew = resources.renew_producer
        try:
            await renew()
        except Exception:  # Kafka away: this attempt fails, the next renews again
            log.exception("could not start a new events producer")
    await asyncio.sleep(_RETRY_S)
    return renew
