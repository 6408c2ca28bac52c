"""The projector's lag metric: log end minus the next offset to project, per partition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from faust.types import TP

from tidewire_projector.lag import lag_after

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class _Message:
    tp: TP
    offset: int


@dataclass(frozen=True)
class _Record:
    message: _Message


def _at(partition: int, offset: int) -> _Record:
    return _Record(_Message(TP("tidewire.commands", partition), offset))


def test_lag_is_the_end_minus_the_next_offset_per_partition() -> None:
    records = [_at(0, 5), _at(1, 9), _at(0, 7)]
    ends = {0: 10, 1: 10}
    assert lag_after(records, lambda tp: ends[tp.partition]) == {0: 2, 1: 0}


def test_unknown_or_revoked_partitions_are_left_out() -> None:
    def highwater(tp: Any) -> int | None:
        if tp.partition == 1:
            raise AssertionError("Partition is not assigned")
        return None  # no fetch has told the end yet

    assert lag_after([_at(0, 1), _at(1, 1)], highwater) == {}
