"""The projector's agent folds and writes the next batch while a batch's appends travel, and
still acknowledges a batch (lets faust commit its offsets) only once its appends landed, in
order; a failed append is retried with whatever was written after it, appending in log order.

Driven with stand-ins for faust's batches, the pipeline and the producer: what is checked is
the agent's order of steps, which the stand-ins record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from tidewire_projector import agent
from tidewire_projector.pipeline import Decided

pytestmark = pytest.mark.unit

_DEADLINE_S = 5.0


@pytest.fixture(autouse=True)
def _no_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lag metric reads faust's records; these batches are names."""
    monkeypatch.setattr(agent, "lag_after", lambda records, highwater: {})


class _Batches:
    """Batches put by the test, acknowledged into `acked`."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[list[str]] = asyncio.Queue()
        self.acked: list[str] = []
        self.grown = asyncio.Event()

    async def put(self, batch: list[str]) -> None:
        await self.queue.put(batch)
        self.grown.set()

    def __aiter__(self) -> _Batches:
        return self

    async def __anext__(self) -> list[str]:
        batch = await self.queue.get()
        if self.queue.empty():
            self.grown.clear()
        return batch

    async def waiting(self) -> None:
        await self.grown.wait()

    async def ack(self, batch: list[str]) -> None:
        self.acked.extend(batch)


class _Producer:
    """Hands out one future per hand-over; `log` gets records once their future succeeds."""

    def __init__(self) -> None:
        self.pending: list[tuple[list[str], asyncio.Future[Any]]] = []
        self.log: list[str] = []
        self.auto = False  # resolve every hand-over at once (the retries)
        self.flushed = 0

    def hand(self, records: list[str]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def landed(f: asyncio.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is None:
                self.log.extend(records)

        future.add_done_callback(landed)
        self.pending.append((records, future))
        if self.auto:
            future.set_result(None)
        return future

    async def flush(self) -> None:
        self.flushed += 1


class _Store:
    def __init__(self) -> None:
        self.cleared = 0

    def clear(self) -> None:
        self.cleared += 1


class _Pipeline:
    """Records each step with the batch it is for (a batch: its records' names)."""

    def __init__(self, producer: _Producer) -> None:
        self.store = _Store()
        self.steps: list[tuple[str, list[str]]] = []
        self._producer = producer
        self._folded: list[str] = []

    async def fold(self, records: list[str]) -> Decided:
        self._folded = list(records)
        self.steps.append(("fold", list(records)))
        return Decided(outcomes=["applied"] * len(records))

    async def write(self) -> None:
        self.steps.append(("write", self._folded))

    async def hand_over(self, decided: Decided, producer: Any) -> asyncio.Future[Any]:
        self.steps.append(("hand", self._folded))
        return self._producer.hand(self._folded)

    async def project(self, records: list[str], producer: Any, renew: Any = None) -> Decided:
        decided = await self.fold(records)
        await self.write()
        await (await self.hand_over(decided, producer))
        return decided

    @staticmethod
    def count(decided: Decided) -> None:
        pass


class _Resources:
    def __init__(self) -> None:
        self.producer = _Producer()
        self.pipeline = _Pipeline(self.producer)

    async def get(self) -> tuple[_Pipeline, _Producer]:
        return self.pipeline, self.producer


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + _DEADLINE_S
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {_DEADLINE_S} s: {what}")
        await asyncio.sleep(0.001)


def _run(batches: _Batches, resources: _Resources) -> asyncio.Task[None]:
    return asyncio.ensure_future(agent.project_batches(batches, resources, lambda tp: None))  # type: ignore[arg-type]


async def test_the_next_batch_is_written_while_appends_travel_and_acknowledged_after() -> None:
    batches, resources = _Batches(), _Resources()
    producer, pipeline = resources.producer, resources.pipeline
    task = _run(batches, resources)
    try:
        await batches.put(["c1"])
        await _until(lambda: len(producer.pending) == 1, "c1 handed to the producer")
        await batches.put(["c2"])
        await _until(lambda: ("write", ["c2"]) in pipeline.steps, "c2 written meanwhile")
        assert batches.acked == []  # c1's appends have not landed: its offset stays
        assert len(producer.pending) == 1  # c2 waits for c1's appends: one batch in flight
        producer.pending[0][1].set_result(None)
        await _until(lambda: batches.acked == ["c1"], "c1 acknowledged once landed")
        await _until(lambda: len(producer.pending) == 2, "then c2 handed over")
        assert batches.acked == ["c1"]
        producer.pending[1][1].set_result(None)
        await _until(lambda: batches.acked == ["c1", "c2"], "c2 acknowledged, idle")
        assert producer.log == ["c1", "c2"]
    finally:
        task.cancel()


async def test_a_failed_append_is_retried_with_the_batch_written_after_it_in_log_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(agent, "_RETRY_S", 0.0)
    batches, resources = _Batches(), _Resources()
    producer, pipeline = resources.producer, resources.pipeline
    task = _run(batches, resources)
    try:
        await batches.put(["c1"])
        await _until(lambda: len(producer.pending) == 1, "c1 handed to the producer")
        await batches.put(["c2", "c3"])
        await _until(lambda: ("write", ["c2", "c3"]) in pipeline.steps, "c2 written meanwhile")
        producer.auto = True  # the retry's appends land
        producer.pending[0][1].set_exception(KafkaTimeoutError())
        await _until(lambda: batches.acked == ["c1", "c2", "c3"], "all acknowledged")
        assert producer.log == ["c1", "c2", "c3"]  # the events log in the order of commands
        assert pipeline.store.cleared >= 1  # the retry starts from Cassandra, not memory
        assert producer.flushed >= 1  # after what was handed over settled
        later = pipeline.steps[pipeline.steps.index(("write", ["c2", "c3"])) + 1 :]
        assert any(step == "fold" and "c1" in names for step, names in later)  # c1 again
    finally:
        task.cancel()


async def test_a_batch_with_nothing_after_it_is_acknowledged_once_landed() -> None:
    batches, resources = _Batches(), _Resources()
    producer = resources.producer
    task = _run(batches, resources)
    try:
        await batches.put(["c1"])
        await _until(lambda: len(producer.pending) == 1, "c1 handed to the producer")
        producer.pending[0][1].set_result(None)
        await _until(lambda: batches.acked == ["c1"], "acknowledged with no batch after it")
    finally:
        task.cancel()
