"""Pure helpers the benchmarks share: percentiles, latency summaries, markdown tables.

Kept free of I/O so the numbers a benchmark prints can be unit-tested: a wrong percentile would
silently turn a missed target into a met one.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN when there are none.

    Nearest rank, not interpolation: every figure printed is a latency that really happened.
    """
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def histogram_percentile(histogram: Mapping[int, int], q: float) -> float:
    """Nearest-rank percentile of a histogram {value: count} (the node client's 1 ms buckets)."""
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    total = sum(histogram.values())
    if total == 0:
        return math.nan
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    raise AssertionError("unreachable: rank <= total")


def merge_histograms(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    """Sum of several histograms (one per node process)."""
    out: dict[int, int] = {}
    for histogram in histograms:
        for value, count in histogram.items():
            out[value] = out.get(value, 0) + count
    return out


@dataclass(frozen=True)
class Latency:
    """Count and p50/p95/p99/max of a set of latencies, in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Latency:
        return cls(
            len(values),
            percentile(values, 50),
            percentile(values, 95),
            percentile(values, 99),
            max(values) if values else math.nan,
        )

    @classmethod
    def of_histogram(cls, histogram: Mapping[int, int]) -> Latency:
        present = [v for v, c in histogram.items() if c > 0]
        return cls(
            sum(histogram.values()),
            histogram_percentile(histogram, 50),
            histogram_percentile(histogram, 95),
            histogram_percentile(histogram, 99),
            float(max(present)) if present else math.nan,
        )


def json_safe(value: Any) -> Any:
    """`value` with every NaN (which JSON lacks) as None, through dicts and lists: the saved
    results stay valid JSON when a figure was not measured."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def ms(value: float) -> str:
    """A latency cell: one decimal, or an en dash when nothing was measured."""
    return "–" if math.isnan(value) else f"{value:.1f}"


def rate(count: float, seconds: float) -> str:
    """A per-second cell, or an en dash for an empty interval."""
    return f"{count / seconds:,.0f}" if seconds > 0 else "–"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table; the first column is left-aligned, the others right-aligned."""
    head = "| " + " | ".join(headers) + " |"
    rule = "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(headers))) + "|"
    body = ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def command_line(words: Sequence[str], options: Mapping[str, object]) -> str:
    """`tidewire bench …` with every option spelled out, so a run can be repeated exactly
    even after a default changed."""
    flags: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                flags.append(flag)
        elif isinstance(value, (list, tuple)):
            flags += [flag, ",".join(str(v) for v in value)]
        else:
            flags += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(["tidewire", *words, *flags])
