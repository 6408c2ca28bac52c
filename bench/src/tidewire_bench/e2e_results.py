"""What `tidewire bench e2e` measured, summarised: pure, so it is unit-tested.

Inputs are the webhook sender's own counts (a `Publisher` with 200 as accepted), the node
clients' merged `tally` and the CPU seconds each process used over the measured phase. A
message is one accepted webhook; it is delivered once to every socket of its company.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tidewire_bench.publish_results import Publisher, Tally, expected_deliveries
from tidewire_bench.report import Latency, json_safe, ms

HEAD = ["measure", "value"]


@dataclass(frozen=True)
class Summary:
    """One run's figures, as printed and as saved in JSON."""

    sockets: int
    companies: int
    target_per_s: float
    sent: int  # webhooks
    accepted: int  # webhooks answered 200 (in Kafka)
    failures: dict[str, int]
    expected: int  # deliveries: accepted messages × sockets of their company
    delivered: int  # distinct deliveries (expected − lost)
    delivered_pct: float
    lost: int
    duplicates: int
    extra: int  # received though its webhook was not answered 200
    sockets_complete: int  # every accepted message of its company, none twice
    disconnects: int
    latency: Latency  # webhook sent -> socket received
    answer: Latency  # webhook POST -> 200
    stack_cpu_s: dict[str, float]  # every process a message passes through, engines included
    harness_cpu_s: dict[str, float]  # the webhook sender and the node clients
    stack_cpu_ms_per_message: float
    # The same processes idle (no webhooks, sockets connected), CPU ms per second: on a shared
    # machine the engines also serve others, so their share of a message is what they used
    # above their idle rate over the phase.
    idle_cpu_ms_per_s: dict[str, float]
    phase_s: float  # wall-clock seconds between the CPU readings
    stack_cpu_ms_per_message_above_idle: float

    @classmethod
    def of(
        cls,
        p: Publisher,
        t: Tally,
        sockets: Mapping[str, int],
        target_per_s: float,
        stack_cpu_s: Mapping[str, float],
        harness_cpu_s: Mapping[str, float],
        idle_cpu_s_per_s: Mapping[str, float] | None = None,
        phase_s: float = math.nan,
    ) -> Summary:
        expected = expected_deliveries(p.accepted, sockets)
        lost = sum(r[2] for r in t.clients)
        idle = dict(idle_cpu_s_per_s or {})
        above = (
            sum(used - idle[name] * phase_s for name, used in stack_cpu_s.items() if name in idle)
            if idle and math.isfinite(phase_s)
            else math.nan
        )
        return cls(
            sockets=sum(sockets.values()),
            companies=len(sockets),
            target_per_s=target_per_s,
            sent=p.sent,
            accepted=p.accepted_count,
            failures=dict(p.failures),
            expected=expected,
            delivered=expected - lost,
            delivered_pct=100 * (expected - lost) / expected if expected else math.nan,
            lost=lost,
            duplicates=sum(r[1] for r in t.clients),
            extra=sum(r[3] for r in t.clients),
            sockets_complete=sum(1 for r in t.clients if r[1] == 0 and r[2] == 0),
            disconnects=t.disconnects,
            latency=Latency.of_histogram(t.histogram),
            answer=Latency.of(p.answer_ms),
            stack_cpu_s=dict(stack_cpu_s),
            harness_cpu_s=dict(harness_cpu_s),
            stack_cpu_ms_per_message=(
                1000 * sum(stack_cpu_s.values()) / p.accepted_count
                if p.accepted_count
                else math.nan
            ),
            idle_cpu_ms_per_s={name: 1000 * rate for name, rate in idle.items()},
            phase_s=phase_s,
            stack_cpu_ms_per_message_above_idle=(
                1000 * above / p.accepted_count if p.accepted_count else math.nan
            ),
        )

    def per_message(self, seconds: float) -> str:
        return f"{1000 * seconds / self.accepted:.2f}" if self.accepted else "–"

    def rows(self) -> list[list[object]]:
        """`measure | value` rows of the printed table."""
        fails = ", ".join(f"{n}× {what}" for what, n in sorted(self.failures.items())) or "none"
        stack = "; ".join(
            f"{name} {self.per_message(sec)}" for name, sec in self.stack_cpu_s.items()
        )
        harness = "; ".join(
            f"{name} {self.per_message(sec)}" for name, sec in self.harness_cpu_s.items()
        )
        lat = self.latency
        return [
            ["sockets × companies", f"{self.sockets:,} × {self.companies:,}"],
            ["webhooks accepted / sent", f"{self.accepted:,} / {self.sent:,}; failures: {fails}"],
            [
                "delivered / expected",
                f"{self.delivered:,} / {self.expected:,} ({_pct(self.delivered_pct)})",
            ],
            [
                "lost / duplicated / unconfirmed",
                f"{self.lost:,} / {self.duplicates:,} / {self.extra:,}",
            ],
            ["sockets that got everything once", f"{self.sockets_complete:,} of {self.sockets:,}"],
            ["sockets cut off", f"{self.disconnects:,}"],
            [
                "webhook → socket p50 / p95 / p99 / max ms",
                f"{ms(lat.p50)} / {ms(lat.p95)} / {ms(lat.p99)} / {ms(lat.max)}",
            ],
            [
                "webhook → 200 p50 / p99 ms",
                f"{ms(self.answer.p50)} / {ms(self.answer.p99)}",
            ],
            [
                "stack CPU per message, ms",
                f"{_num(self.stack_cpu_ms_per_message)} ({stack or '–'})",
            ],
            [
                "stack CPU per message above idle, ms",
                _num(self.stack_cpu_ms_per_message_above_idle),
            ],
            [
                "idle CPU, ms per s",
                "; ".join(f"{n} {v:.1f}" for n, v in self.idle_cpu_ms_per_s.items()) or "–",
            ],
            ["harness CPU per message, ms", harness or "–"],
        ]

    def as_json(self) -> dict[str, Any]:
        """Plain data for the saved JSON (NaN, which JSON lacks, as null)."""
        doc: dict[str, Any] = json_safe(asdict(self))
        return doc


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f} %"


def _num(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"
