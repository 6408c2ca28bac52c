"""What `tidewire bench publish` measured, summarised: pure, so it is unit-tested.

Inputs are the publisher's own counts (one entry per request to `POST /api/publish`) and the
node clients' `tally` answers (bench/js/clients.mjs). Times are wall-clock milliseconds
of the one machine both run on.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tidewire_bench.report import Latency, json_safe, merge_histograms, ms


@dataclass
class Publisher:
    """The measured phase as the publisher saw it, filled in as answers come back (the
    publisher of `bench publish`, and the webhook sender of `bench e2e`)."""

    sent: int = 0  # publications sent
    requests: int = 0
    accepted: dict[str, list[int]] = field(default_factory=dict)  # company -> numbers 202'd
    failures: Counter[str] = field(default_factory=Counter)  # "HTTP 503" / "transport error"
    answer_ms: list[float] = field(default_factory=list)  # per request: send -> answer
    first_send: float = math.inf
    last_answer: float = -math.inf
    ok: int = 202  # the status that means accepted (a webhook's is 200)

    def answered(
        self, company: str, numbers: list[int], status: int, sent_at: float, at: float
    ) -> None:
        """One request's answer (`status` 0: no answer); `numbers` are its publications'."""
        self.requests += 1
        self.sent += len(numbers)
        self.first_send = min(self.first_send, sent_at)
        self.last_answer = max(self.last_answer, at)
        self.answer_ms.append(at - sent_at)
        if status == self.ok:
            self.accepted.setdefault(company, []).extend(numbers)
        else:
            self.failures["transport error" if status == 0 else f"HTTP {status}"] += 1

    @property
    def accepted_count(self) -> int:
        return sum(len(n) for n in self.accepted.values())


@dataclass(frozen=True)
class Tally:
    """What the sockets received, merged over the node processes."""

    total: int
    histogram: dict[int, int]
    first: float | None
    last: float | None
    disconnects: int
    clients: list[tuple[int, int, int, int]]  # received, duplicates, lost, extra

    @classmethod
    def merge(cls, answers: Iterable[Mapping[str, Any]]) -> Tally:
        answers = list(answers)
        firsts = [a["first"] for a in answers if a["first"] is not None]
        lasts = [a["last"] for a in answers if a["last"] is not None]
        return cls(
            sum(int(a["total"]) for a in answers),
            merge_histograms({int(k): int(v) for k, v in a["hist"].items()} for a in answers),
            min(firsts) if firsts else None,
            max(lasts) if lasts else None,
            sum(int(a["disconnects"]) for a in answers),
            [
                (int(r[0]), int(r[1]), int(r[2]), int(r[3]))
                for a in answers
                for r in (a.get("clients") or [])
            ],
        )


def expected_deliveries(accepted: Mapping[str, list[int]], sockets: Mapping[str, int]) -> int:
    """Each accepted publication once to every socket of its company."""
    return sum(len(numbers) * sockets.get(company, 0) for company, numbers in accepted.items())


def _per_s(count: float, start: float | None, end: float | None) -> float:
    if start is None or end is None or end <= start or not math.isfinite(end - start):
        return math.nan
    return count / ((end - start) / 1000)


@dataclass(frozen=True)
class Summary:
    """One run's figures, as printed and as saved in JSON."""

    sockets: int
    companies: int
    target_per_s: float
    sent: int
    accepted: int
    failures: dict[str, int]
    accepted_per_s: float  # 202'd publications over first send -> last answer
    expected: int  # deliveries: accepted publications × sockets of their company
    delivered: int  # deliveries counted by the sockets, duplicates included
    deliveries_per_s: float  # over first send -> last delivery
    publications_delivered_per_s: float  # deliveries/s over the mean fan-out
    lost: int  # accepted publications a socket of their company never received
    duplicates: int
    extra: int  # received but not accepted (a request that failed after Kafka had it)
    sockets_complete: int  # every accepted publication of its company, none twice
    disconnects: int
    latency: Latency  # publisher send -> socket receipt
    answer: Latency  # POST -> answer, per request
    cpu_s: dict[str, float]  # process -> CPU seconds during the measured phase

    @classmethod
    def of(
        cls,
        p: Publisher,
        t: Tally,
        sockets: Mapping[str, int],
        target_per_s: float,
        cpu_s: Mapping[str, float] | None = None,
    ) -> Summary:
        expected = expected_deliveries(p.accepted, sockets)
        first_send = p.first_send if math.isfinite(p.first_send) else None
        per_s = _per_s(t.total, first_send, t.last)
        fanout = expected / p.accepted_count if p.accepted_count else math.nan
        return cls(
            sockets=sum(sockets.values()),
            companies=len(sockets),
            target_per_s=target_per_s,
            sent=p.sent,
            accepted=p.accepted_count,
            failures=dict(p.failures),
            accepted_per_s=_per_s(p.accepted_count, first_send, p.last_answer),
            expected=expected,
            delivered=t.total,
            deliveries_per_s=per_s,
            publications_delivered_per_s=per_s / fanout if fanout else math.nan,
            lost=sum(r[2] for r in t.clients),
            duplicates=sum(r[1] for r in t.clients),
            extra=sum(r[3] for r in t.clients),
            sockets_complete=sum(1 for r in t.clients if r[1] == 0 and r[2] == 0),
            disconnects=t.disconnects,
            latency=Latency.of_histogram(t.histogram),
            answer=Latency.of(p.answer_ms),
            cpu_s=dict(cpu_s or {}),
        )

    def rows(self) -> list[list[object]]:
        """`measure | value` rows of the printed table."""
        fails = ", ".join(f"{n}× {what}" for what, n in sorted(self.failures.items())) or "none"
        cpu = "; ".join(
            f"{name} {sec:.1f} s ({1000 * sec / self.accepted:.2f} ms/publication)"
            if self.accepted
            else f"{name} {sec:.1f} s"
            for name, sec in self.cpu_s.items()
        )
        return [
            ["sockets × companies", f"{self.sockets:,} × {self.companies:,}"],
            [
                "publications/s: target → accepted (202)",
                f"{self.target_per_s:,.0f} → {_rate(self.accepted_per_s)}",
            ],
            [
                "publications accepted / sent",
                f"{self.accepted:,} / {self.sent:,}; failures: {fails}",
            ],
            ["deliveries / expected", f"{self.delivered:,} / {self.expected:,}"],
            [
                "delivered/s: socket receipts (publications)",
                f"{_rate(self.deliveries_per_s)} ({_rate(self.publications_delivered_per_s)})",
            ],
            [
                "lost / duplicated / unconfirmed",
                f"{self.lost:,} / {self.duplicates:,} / {self.extra:,}",
            ],
            ["sockets that got everything once", f"{self.sockets_complete:,} of {self.sockets:,}"],
            ["sockets cut off", f"{self.disconnects:,}"],
            [
                "publish → socket p50 / p99 / max ms",
                f"{ms(self.latency.p50)} / {ms(self.latency.p99)} / {ms(self.latency.max)}",
            ],
            [
                "POST → 202 p50 / p99 / max ms",
                f"{ms(self.answer.p50)} / {ms(self.answer.p99)} / {ms(self.answer.max)}",
            ],
            ["CPU during the phase", cpu or "–"],
        ]

    def as_json(self) -> dict[str, Any]:
        """Plain data for the saved JSON (NaN, which JSON lacks, as null)."""
        doc: dict[str, Any] = json_safe(asdict(self))
        return doc


def _rate(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.0f}"


SUMMARY_HEAD = ["measure", "value"]
