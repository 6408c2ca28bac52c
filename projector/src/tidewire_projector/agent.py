"""The body of the projector's faust agent: each batch through the pipeline until it is
projected, then the lag metric.

faust acks a batch's events even when the agent's body raises, so a failure must never
escape: a failed batch is retried until Cassandra and Kafka take it (the journal makes retries
safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiokafka.errors import OutOfOrderSequenceNumber

from tidewire_platform.metrics import PROJECTOR_BATCH_FAILURES, PROJECTOR_LAG
from tidewire_projector.lag import lag_after
from tidewire_projector.pipeline import REFUSED, Renew
from tidewire_projector.resources import Resources

log = logging.getLogger("tidewire.projector")

# How long a failed batch waits for appends already handed to the producer.
_SETTLE_S = 30.0
_RETRY_S = 1.0
# After a refused batch, an idempotent producer's sequence numbers for that partition are past
# what the broker holds, and every later batch there is refused like this: a new producer.
_BROKEN: tuple[type[Exception], ...] = (*REFUSED, OutOfOrderSequenceNumber)


async def project_batches(
    batches: AsyncIterator[list[Any]],
    resources: Resources,
    highwater: Callable[[Any], int | None],
) -> None:
    """Project every batch of `batches` (faust events), in order. faust commits a batch's
    offsets only after this loop asks for the next batch."""
    async for records in batches:
        await project_until_done(records, resources)
        for partition, behind in lag_after(records, highwater).items():
            PROJECTOR_LAG.labels(str(partition)).set(behind)


async def project_until_done(records: list[Any], resources: Resources) -> None:
    """Project `records`, retrying from scratch after any failure."""
    renew: Renew | None = None
    while True:
        pipeline, producer = await resources.get()
        try:
            await pipeline.project(records, producer, renew)
            return
        except (Exception, asyncio.CancelledError) as exc:
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task and task.cancelling():
                raise  # the agent itself is stopped
            # Otherwise a send future the producer cancelled: a failed attempt like any
            # other (escaping, it would end the agent's body, which faust takes for a crash).
            PROJECTOR_BATCH_FAILURES.inc()
            log.exception("projecting a batch failed; retrying it")
            pipeline.store.clear()  # memory may be ahead of Cassandra now
            # Appends handed to the producer before the failure may still land: let them
            # land or fail before the retry reads the log for what it already holds, or it
            # would append them again.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.flush(), _SETTLE_S)
            if isinstance(exc, _BROKEN):
                # A record refused by the broker: the retry finds it one record at a time.
                renew = resources.renew_producer
                try:
                    await renew()
                except Exception:  # Kafka away: this attempt fails, the next renews again
                    log.exception("could not start a new events producer")
            await asyncio.sleep(_RETRY_S)
