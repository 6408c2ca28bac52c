"""The rebuild reads the commands log in steps (up to the ends it saw, then the tail that
arrived meanwhile): every record is folded once, whatever a fetch reads past a step's end."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import TopicPartition

from tests.support.commands import inbound_command
from tidewire_platform.settings import StackSettings
from tidewire_projector.rebuild import _Folded, _LogReader

pytestmark = pytest.mark.unit


@dataclass
class _Record:
    offset: int
    value: bytes
    timestamp: int = 1


class _Consumer:
    """A Kafka consumer over a list per partition: fetches move the position, like Kafka's."""

    def __init__(self, logs: dict[TopicPartition, list[_Record]]) -> None:
        self.logs = logs
        self.pos = dict.fromkeys(logs, 0)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.pos[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.pos[tp]

    async def getmany(self, *tps: TopicPartition, **_: Any) -> dict[TopicPartition, list[Any]]:
        out = {}
        for tp in tps:
            got = [r for r in self.logs[tp] if r.offset >= self.pos[tp]][:7]
            if got:
                out[tp] = got
                self.pos[tp] = got[-1].offset + 1
        return out


def test_records_past_a_steps_end_are_folded_by_the_next_step() -> None:
    s = StackSettings(partitions=1)
    tp = TopicPartition(s.commands_topic, 0)
    records = [_Record(n, inbound_command("co-r", n % 3, "run", n).to_bytes()) for n in range(20)]
    consumer = _Consumer({tp: records[:14]})
    folded = _Folded(keep_from={})

    async def scenario() -> None:
        reader = _LogReader(s)  # its real consumer is never started
        reader._consumer = consumer  # type: ignore[assignment]
        reader._next = {tp: 0}
        await reader.fold_until(folded, {tp: 10})  # a fetch reads 7..13 and stops at 10
        assert folded.applied == 10
        consumer.logs[tp] = records  # more arrived during the long part of the rebuild
        await reader.fold_until(folded, {tp: 20})
        await asyncio.wait_for(reader.fold_until(folded, {tp: 20}), 5)  # nothing new: returns

    asyncio.run(scenario())
    assert folded.applied == 20
    assert sorted(u.position for u in folded.tail) == list(range(10, 20))
