"""A send future cancelled under the projector's agent (its producer stopped it) is a failed
attempt, retried like any other: it must not end the agent's body, which faust takes for a
crash of the agent. A cancellation of the agent itself still stops it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidewire_projector import agent

pytestmark = pytest.mark.unit


class _Store:
    def clear(self) -> None:
        pass


class _Pipeline:
    """Its first attempt fails as a cancelled send does; the next one lands."""

    def __init__(self) -> None:
        self.store = _Store()
        self.attempts = 0

    async def project(self, records: list[Any], producer: Any, renew: Any = None) -> None:
        self.attempts += 1
        if self.attempts == 1:
            cancelled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            cancelled.cancel()
            await asyncio.gather(cancelled)  # what `append` awaits


class _Producer:
    async def flush(self) -> None:
        pass


class _Resources:
    def __init__(self, pipeline: _Pipeline) -> None:
        self.pipeline = pipeline

    async def get(self) -> tuple[_Pipeline, _Producer]:
        return self.pipeline, _Producer()


async def test_a_cancelled_send_is_retried_not_an_end_of_the_agent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(agent, "_RETRY_S", 0)
    pipeline = _Pipeline()
    await agent.project_until_done(["record"], _Resources(pipeline))  # type: ignore[arg-type]
    assert pipeline.attempts == 2


async def test_cancelling_the_agent_still_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent, "_RETRY_S", 0)
    started = asyncio.Event()

    class Stuck(_Pipeline):
        async def project(self, records: list[Any], producer: Any, renew: Any = None) -> None:
            self.attempts += 1
            started.set()
            await asyncio.Event().wait()

    pipeline = Stuck()
    task = asyncio.create_task(agent.project_until_done(["r"], _Resources(pipeline)))  # type: ignore[arg-type]
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pipeline.attempts == 1
