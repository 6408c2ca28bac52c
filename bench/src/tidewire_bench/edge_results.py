"""What `tidewire bench edge` measured, turned into table rows: pure, so it is unit-tested.

Inputs are the node clients' answers (see bench/js/clients.mjs): `report` answers for
fan-out, `collect` rows for replay and node kill. Times are wall-clock milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from tidewire_bench.load import Paced
from tidewire_bench.report import Latency, merge_histograms, ms, rate


@dataclass(frozen=True)
class Delivered:
    """Deliveries of one fan-out phase, merged over the node processes."""

    total: int = 0
    per_url: dict[str, tuple[int, float, float]] = field(default_factory=dict)  # count, first, last
    histogram: dict[int, int] = field(default_factory=dict)
    disconnects: int = 0

    @classmethod
    def merge(cls, reports: Iterable[Mapping[str, Any]]) -> Delivered:
        per_url: dict[str, tuple[int, float, float]] = {}
        hists: list[dict[int, int]] = []
        total = disconnects = 0
        for rep in reports:
            total += int(rep["total"])
            disconnects += int(rep["disconnects"])
            hists.append({int(k): int(v) for k, v in rep["hist"].items()})
            for url, u in rep["perUrl"].items():
                count, first, last = per_url.get(url, (0, math.inf, -math.inf))
                per_url[url] = (
                    count + int(u["count"]),
                    min(first, u["first"]),
                    max(last, u["last"]),
                )
        return cls(total, per_url, merge_histograms(hists), disconnects)

    def per_edge(self) -> str:
        """`port: deliveries/s` for each edge, over that edge's first-to-last delivery."""
        cells = []
        for url, (count, first, last) in sorted(self.per_url.items()):
            port = urlparse(url).port
            cells.append(f"{port}: {rate(count, (last - first) / 1000)}")
        return "; ".join(cells) or "–"


def fanout_row(
    source: str,
    clients: int,
    companies: int,
    target: int,
    paced: Paced,
    expected: int,
    d: Delivered,
) -> list[object]:
    lat = Latency.of_histogram(d.histogram)
    return [
        source,
        f"{clients:,} × {companies}",
        f"{target:,} → {rate(paced.sent - paced.failed, paced.seconds)}",
        f"{d.total:,} / {expected:,}",
        d.per_edge(),
        d.disconnects,
        ms(lat.p50),
        ms(lat.p99),
        ms(lat.max),
    ]


FANOUT_HEAD = [
    "events via",
    "clients × companies",
    "events/s target → sent",
    "deliveries / expected",
    "deliveries/s per edge",
    "cut off",
    "p50 ms",
    "p99 ms",
    "max ms",
]

Row = Sequence[Any]  # [recovered, reconnectAt, connectAt, lastAt, received, duplicates]


@dataclass(frozen=True)
class Recovery:
    """Reconnects of one replay or node-kill phase, measured from `origin` per client."""

    clients: int
    recovered: int
    complete: int  # received every missed event, none twice
    duplicates: int
    to_connect: Latency  # origin -> recovered connect
    to_last: Latency  # origin -> last missed event received

    @classmethod
    def of(cls, rows: Sequence[Row], missed: int, origin: float | None = None) -> Recovery:
        """`origin` None: each client's own reconnect call (replay); else one instant (kill)."""
        to_connect: list[float] = []
        to_last: list[float] = []
        complete = duplicates = 0
        for recovered, reconnect_at, connect_at, last_at, received, dups in rows:
            start = origin if origin is not None else reconnect_at
            if start is None:
                continue
            if recovered and connect_at is not None:
                to_connect.append(connect_at - start)
            if last_at is not None:
                to_last.append(last_at - start)
            duplicates += int(dups)
            complete += int(last_at is not None and received == missed and dups == 0)
        return cls(
            len(rows),
            sum(int(r[0]) for r in rows),
            complete,
            duplicates,
            Latency.of(to_connect),
            Latency.of(to_last),
        )

    def share(self, part: int) -> str:
        pct = 100 * part / self.clients if self.clients else 0.0
        return f"{part:,} ({pct:.1f} %)"


def replay_row(r: Recovery, missed: int, spread_s: float = 0.0) -> list[object]:
    return [
        f"{r.clients:,}",
        "at once" if spread_s <= 0 else f"over {spread_s:g} s",
        missed,
        r.share(r.recovered),
        r.share(r.complete),
        r.duplicates,
        ms(r.to_connect.p50),
        ms(r.to_last.p50),
        ms(r.to_last.p99),
        ms(r.to_last.max),
    ]


REPLAY_HEAD = [
    "clients dropped",
    "reconnecting",
    "missed each",
    "recovered",
    "got all missed",
    "duplicates",
    "reconnect → connect p50 ms",
    "reconnect → last missed p50 ms",
    "p99 ms",
    "max ms",
]


def kill_row(r: Recovery, missed: int, back_after_s: float) -> list[object]:
    return [
        f"{r.clients:,}",
        missed,
        r.share(r.recovered),
        r.share(r.complete),
        f"{back_after_s:.2f}",
        ms(r.to_connect.p50),
        ms(r.to_connect.p95),
        ms(r.to_connect.max),
        ms(r.to_last.p95),
    ]


KILL_HEAD = [
    "clients on killed node",
    "missed each",
    "recovered",
    "got all missed",
    "edge restart s",
    "kill → recovered p50 ms",
    "p95 ms",
    "max ms",
    "kill → last missed p95 ms",
]
