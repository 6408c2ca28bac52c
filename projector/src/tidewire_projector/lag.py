"""How far behind the log a batch leaves this process, per partition (the lag metric)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def lag_after(records: Iterable[Any], highwater: Callable[[Any], int | None]) -> dict[int, int]:
    """Per partition of `records` (faust events), the log's end minus the next offset to
    project. `highwater(tp)` is the consumer's last known end of that partition (None before
    the first fetch told it). Never raises: a metric must not stop the agent."""
    last: dict[Any, int] = {}
    for record in records:
        tp, offset = record.message.tp, record.message.offset
        if offset > last.get(tp, -1):
            last[tp] = offset
    lag: dict[int, int] = {}
    for tp, offset in last.items():
        try:
            end = highwater(tp)
        except Exception:  # revoked meanwhile: aiokafka asserts the partition is assigned
            continue
        if end is not None:
            lag[tp.partition] = max(0, end - offset - 1)
    return lag
