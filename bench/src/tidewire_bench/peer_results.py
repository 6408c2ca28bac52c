"""What `tidewire bench peer` measured, and the side-by-side table: pure, so it is unit-tested.

Inputs are the publishers' counts (`Publisher`: what each system accepted, per company and
number), the node clients' `tally` answers (bench/js/clients.mjs; with the churn's cycles) and the
CPU seconds each process used during the phase. Deliveries are counted per client against
every publication accepted for its company during the phase, offline gaps included: a
publication sent while a client was away counts as lost unless its recovery brought it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tidewire_bench.publish_results import Publisher, Tally, expected_deliveries
from tidewire_bench.report import Latency, json_safe, ms

# What each measured process is, for the CPU rows: the socket servers, the publishing path
# (the backend's publisher process; for tidewire also ingest and the projector), the message
# brokers (Redis; Kafka and Redis), tidewire's store (Cassandra: the projector's idempotency
# journal) and the load generator (the client processes).
ROLES = ("node", "publish", "broker", "store", "generator")


@dataclass(frozen=True)
class Cycle:
    """One drop of one client during churn, times in wall-clock ms (None: did not happen)."""

    drop_at: float
    reconnect_at: float | None
    connect_at: float | None
    recovered: bool
    switched: bool  # reconnected to the other node
    last_replay_at: float | None  # the last publication sent before the reconnect arrived

    @classmethod
    def of(cls, row: Sequence[Any]) -> Cycle:
        drop, reconnect, connect, recovered, switched, replay = row
        return cls(float(drop), reconnect, connect, bool(recovered), bool(switched), replay)


@dataclass(frozen=True)
class Churned:
    """The churn as the clients saw it, merged over the client processes."""

    cycles: list[Cycle]
    connect_errors: int = 0  # reconnects refused and retried
    unplanned: int = 0  # disconnects that were not the bench's drops

    @classmethod
    def merge(cls, answers: Iterable[Mapping[str, Any]]) -> Churned:
        answers = list(answers)
        return cls(
            [Cycle.of(row) for a in answers for row in a.get("cycles") or []],
            sum(int(a.get("connectErrors") or 0) for a in answers),
            sum(int(a.get("unplanned") or 0) for a in answers),
        )


@dataclass(frozen=True)
class Phase:
    """One phase (`fanout` or `churn`) of one system."""

    phase: str
    clients: int
    sent: int  # publications
    accepted: int
    failures: dict[str, int]  # emits given up (tidewire: refused or not durable), by reason
    expected: int  # deliveries: accepted publications × clients of their company
    lost: int
    duplicates: int
    extra: int  # received, but their publish request failed (tidewire's 5xx after Kafka had it)
    latency: Latency  # publish -> receipt, every delivery of the phase (replays included)
    cpu_s: dict[str, float]  # process -> CPU seconds during the phase
    roles: dict[str, str]  # process -> one of ROLES
    cycles: int = 0
    reconnected: int = 0
    recovered: int = 0
    switched: int = 0
    connect_errors: int = 0
    unplanned: int = 0
    replay: Latency = field(default_factory=lambda: Latency.of([]))  # reconnect -> last missed
    to_connect: Latency = field(default_factory=lambda: Latency.of([]))  # reconnect -> connect

    @classmethod
    def of(
        cls,
        phase: str,
        published: Publisher,
        tally: Tally,
        per_company: Mapping[str, int],
        cpu_s: Mapping[str, float],
        roles: Mapping[str, str],
        churned: Churned | None = None,
    ) -> Phase:
        cycles = churned.cycles if churned else []
        came_back = [c for c in cycles if c.reconnect_at is not None and c.connect_at is not None]
        return cls(
            phase=phase,
            clients=sum(per_company.values()),
            sent=published.sent,
            accepted=published.accepted_count,
            failures=dict(published.failures),
            expected=expected_deliveries(published.accepted, per_company),
            lost=sum(r[2] for r in tally.clients),
            duplicates=sum(r[1] for r in tally.clients),
            extra=sum(r[3] for r in tally.clients),
            latency=Latency.of_histogram(tally.histogram),
            cpu_s=dict(cpu_s),
            roles={name: roles[name] for name in cpu_s if name in roles},
            cycles=len(cycles),
            reconnected=len(came_back),
            recovered=sum(1 for c in came_back if c.recovered),
            switched=sum(1 for c in came_back if c.switched),
            connect_errors=churned.connect_errors if churned else 0,
            unplanned=churned.unplanned if churned else 0,
            replay=Latency.of(
                [
                    c.last_replay_at - c.reconnect_at
                    for c in came_back
                    if c.last_replay_at is not None and c.reconnect_at is not None
                ]
            ),
            to_connect=Latency.of(
                [
                    c.connect_at - c.reconnect_at
                    for c in came_back
                    if c.connect_at is not None and c.reconnect_at is not None
                ]
            ),
        )

    @property
    def delivered(self) -> int:
        """Deliveries expected and made (each counted once)."""
        return self.expected - self.lost

    def cpu(self, *roles: str) -> float:
        """CPU seconds of the processes of `roles`."""
        return sum(sec for name, sec in self.cpu_s.items() if self.roles.get(name) in roles)

    def per_1000(self, *roles: str) -> float:
        """CPU milliseconds of `roles` per 1,000 deliveries; NaN without deliveries."""
        if self.delivered <= 0:
            return math.nan
        return self.cpu(*roles) * 1e6 / self.delivered

    def as_json(self) -> dict[str, Any]:
        """Plain data for the saved JSON (NaN, which JSON lacks, as null), with the derived
        figures a reader compares."""
        doc: dict[str, Any] = json_safe(asdict(self))
        doc["delivered"] = self.delivered
        doc["cpu_ms_per_1000"] = json_safe(
            {
                "node": self.per_1000("node"),
                "node_broker": self.per_1000("node", "broker"),
                "all": self.per_1000("node", "publish", "broker", "store"),
                "generator": self.per_1000("generator"),
                **{f"process:{name}": self.per_1000_of(name) for name in self.cpu_s},
            }
        )
        return doc

    def per_1000_of(self, name: str) -> float:
        if self.delivered <= 0 or name not in self.cpu_s:
            return math.nan
        return self.cpu_s[name] * 1e6 / self.delivered


def _ratio(tw: float, peer: float) -> str:
    if math.isnan(tw) or math.isnan(peer) or peer <= 0:
        return "–"
    return f"{tw / peer:.1f}×"


def _cpu(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.0f} ms"


def _delivered(p: Phase) -> str:
    if p.expected == 0:
        return "–"
    pct = 100 * p.delivered / p.expected
    share = "100 %" if p.lost == 0 else f"{pct:.3f} %"
    extra = f", {p.extra:,} unconfirmed" if p.extra else ""
    return f"{share}, {p.lost:,} lost, {p.duplicates:,} duplicates{extra}"


def _nodes(p: Phase) -> str:
    """Both nodes together, and each."""
    each = [p.per_1000_of(n) for n, role in p.roles.items() if role == "node"]
    cells = " + ".join(f"{v:,.0f}" for v in each if not math.isnan(v))
    return f"{_cpu(p.per_1000('node'))} ({cells})" if len(each) > 1 else _cpu(p.per_1000("node"))


def _recovered(p: Phase) -> str:
    if p.cycles == 0:
        return "–"
    pct = 100 * p.recovered / p.cycles
    return f"{p.recovered:,} of {p.cycles:,} ({pct:.1f} %), {p.switched:,} on the other node" + (
        f", {p.cycles - p.reconnected:,} never back" if p.reconnected < p.cycles else ""
    )


def _lat(a: Latency, b: Latency) -> tuple[str, str, str]:
    return (
        f"{ms(a.p50)} / {ms(a.p99)}",
        f"{ms(b.p50)} / {ms(b.p99)}",
        f"{_ratio(b.p50, a.p50)} / {_ratio(b.p99, a.p99)}",
    )


def rows(peer: Mapping[str, Phase], tw: Mapping[str, Phase]) -> list[list[object]]:
    """`measure | Node Socket.IO | tidewire | tidewire/peer` rows, for the phases both ran."""
    out: list[list[object]] = []
    labels = {"fanout": "fan-out", "churn": "churn"}
    for name in ("fanout", "churn"):
        if name not in peer or name not in tw:
            continue
        a, b = peer[name], tw[name]
        label = labels[name]
        out.append([f"{label}: clients, publications accepted", _size(a), _size(b), ""])
        out.append([f"{label}: delivered", _delivered(a), _delivered(b), ""])
        if name == "fanout":
            out.append([f"{label}: latency p50 / p99 ms", *_lat(a.latency, b.latency)])
        else:
            out.append([f"{label}: reconnects recovered", _recovered(a), _recovered(b), ""])
            out.append(
                [f"{label}: reconnect → last missed p50 / p99 ms", *_lat(a.replay, b.replay)]
            )
            out.append(
                [f"{label}: reconnect → connect p50 / p99 ms", *_lat(a.to_connect, b.to_connect)]
            )
        out.append(
            [
                f"{label}: node CPU per 1,000 deliveries (each node)",
                _nodes(a),
                _nodes(b),
                _ratio(b.per_1000("node"), a.per_1000("node")),
            ]
        )
        for title, roles in (
            ("with the broker (Redis / Kafka + Redis)", ("node", "broker")),
            (
                "whole path: + the backend's publisher (tidewire: + ingest, projector, Cassandra)",
                ("node", "publish", "broker", "store"),
            ),
            ("load generator (the clients)", ("generator",)),
        ):
            out.append(
                [
                    f"{label}: {title}",
                    _cpu(a.per_1000(*roles)),
                    _cpu(b.per_1000(*roles)),
                    _ratio(b.per_1000(*roles), a.per_1000(*roles)),
                ]
            )
    return out


def _size(p: Phase) -> str:
    failed = "; ".join(f"{n:,}× {why}" for why, n in sorted(p.failures.items()))
    return f"{p.clients:,}, {p.accepted:,} of {p.sent:,}" + (f" ({failed})" if failed else "")


HEAD = ["measure", "Node Socket.IO", "tidewire", "tidewire/peer"]


def process_rows(systems: Mapping[str, Mapping[str, Phase]]) -> list[list[object]]:
    """`system | phase | process (role) | CPU s | ms per 1,000 deliveries` for every process."""
    out: list[list[object]] = []
    for system, phases in systems.items():
        for name, p in phases.items():
            for proc, sec in p.cpu_s.items():
                out.append(
                    [
                        system,
                        name,
                        f"{proc} ({p.roles.get(proc, '?')})",
                        f"{sec:.2f}",
                        _cpu(p.per_1000_of(proc)),
                    ]
                )
    return out


PROCESS_HEAD = ["system", "phase", "process (role)", "CPU s", "per 1,000 deliveries"]
