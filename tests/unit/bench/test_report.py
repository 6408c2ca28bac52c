"""Percentiles, latency summaries and tables the benchmarks print."""

from __future__ import annotations

import math

import pytest

from tidewire_bench.report import (
    Latency,
    command_line,
    histogram_percentile,
    merge_histograms,
    ms,
    percentile,
    rate,
    table,
)

pytestmark = pytest.mark.unit


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([7.0, 1.0, 3.0], 50) == 3  # unsorted input


def test_percentile_of_nothing_is_nan_and_q_is_checked() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)


def test_histogram_percentile_matches_the_expanded_values() -> None:
    hist = {3: 2, 1: 5, 40: 1, 10: 2}
    expanded = [float(v) for v, n in hist.items() for _ in range(n)]
    for q in (0, 10, 50, 90, 95, 99, 100):
        assert histogram_percentile(hist, q) == percentile(expanded, q)
    assert math.isnan(histogram_percentile({}, 50))


def test_merge_histograms_adds_counts() -> None:
    assert merge_histograms([{1: 2, 5: 1}, {1: 1, 7: 3}]) == {1: 3, 5: 1, 7: 3}


def test_latency_summaries_agree_for_values_and_histograms() -> None:
    hist = {v: 1 for v in range(1, 201)}
    of_values = Latency.of([float(v) for v in range(1, 201)])
    assert of_values == Latency.of_histogram(hist)
    assert (of_values.count, of_values.p50, of_values.p99, of_values.max) == (200, 100, 198, 200)
    empty = Latency.of([])
    assert empty.count == 0
    assert math.isnan(empty.max)


def test_cells() -> None:
    assert ms(12.345) == "12.3"
    assert ms(math.nan) == "–"
    assert rate(5000, 2.0) == "2,500"
    assert rate(10, 0.0) == "–"


def test_table_is_markdown_with_a_left_first_column() -> None:
    out = table(["a", "b"], [["x", 1], ["y", 2]])
    assert out.splitlines() == ["| a | b |", "|:---|---:|", "| x | 1 |", "| y | 2 |"]


def test_command_line_spells_out_every_option() -> None:
    line = command_line(
        ["bench", "edge"],
        {"clients": 1000, "seconds": 10.0, "via": ("direct", "projector"), "dry": False},
    )
    assert line == "tidewire bench edge --clients 1000 --seconds 10 --via direct,projector"
