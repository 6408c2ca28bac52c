"""`tidewire bench peer`: tidewire's edges side by side with the Socket.IO deployment a Node.js
team would run instead, under one workload and one client harness, in one invocation.

The peer is Node.js Socket.IO 4.8 with connection state recovery and the Redis Streams adapter,
two nodes and a publisher, with a Redis of its own (peer_node.py). Tidewire is its ingest,
projector and two edges, started by the bench against the running engines on topics and a
keyspace of their own (own_stack.py). Each system runs alone: the other is stopped by then.

**Publishing.** Both are published to by a helpdesk backend in Node.js, one process
(bench/peer-node/publisher.mjs), in the way each system offers: for the peer
`io.to("company-<id>").emit(...)` on a Socket.IO server with the same adapter (it appends to
the Redis stream); for tidewire `emitter.company(id).emit(...)` with `@tidewire/emitter`, no
rooms (every socket of the company, as the company room). The emitter is tidewire's real path
for a backend's emit: `POST /api/publish`, batched one request at a time, retried; ingest
makes it durable in Kafka, the projector gives it its place in the events log, the edges
deliver it. Webhooks would add WhatsApp parsing and read models the peer has no counterpart
for; appending to the events topic directly would skip the durability a 202 promises. The CPU
rows therefore show the edges alone against the nodes alone, then each whole path.

**Workload**, the same for both, each system with clients of its own (official
socket.io-client, bench/js/clients.mjs): `--clients` spread evenly over `--companies` and over the
two nodes, publications at `--rate` per second open loop to the companies in turn, a warm-up
first. `fanout`: publish for `--seconds`. `churn`: publish for `--churn-seconds` while every
client's transport is closed every ~`--churn-period-s` and reconnected ~`--churn-offline-s`
later, `--churn-switch` of the reconnects to the other node. Each publication's data carries
its company, its number and the publisher's clock (`{p, c, n, t}`); every client counts what
it received against everything accepted for its company during the phase, so a publication
missed while offline and not replayed counts as lost, even when the client was told
`recovered === true`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tidewire_bench import load, runs
from tidewire_bench.edge_clients import Connected, Fleet
from tidewire_bench.own_stack import OwnStack
from tidewire_bench.peer_node import NodePeer, NodePublisher
from tidewire_bench.peer_results import HEAD, PROCESS_HEAD, Churned, Phase, process_rows, rows
from tidewire_bench.publish import EVENT
from tidewire_bench.publish_results import Publisher
from tidewire_bench.report import command_line, table
from tidewire_deploy.layout import layout_of
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_publisher_token

PHASES = ("fanout", "churn")
# Tidewire's edges for the bench: every client connects from 127.0.0.1.
EDGE_ENV = {"TIDEWIRE_EDGE_CONNECTS_PER_ADDRESS": "1000000"}
# What each of tidewire's processes is in the CPU rows (peer_results.ROLES); the outbound
# sender is started with the rest but has no part in a publication's path.
_TIDEWIRE_ROLES = {
    "ingest": "publish",
    "projector": "publish",
    "kafka": "broker",
    "redis": "broker",
    "cassandra": "store",
}


@dataclass(frozen=True)
class Config:
    clients: int = 400
    companies: int = 40
    rate: int = 200  # publications/s
    seconds: float = 20.0  # fanout, measured
    churn_seconds: float = 30.0
    warmup_s: float = 5.0
    churn_period_s: float = 15.0
    churn_offline_s: float = 2.0
    churn_switch: float = 0.5  # share of the reconnects that go to the other node
    phases: tuple[str, ...] = PHASES
    node_procs: int = 1
    drain_s: float = 10.0  # stop waiting for deliveries after s without one
    out: str = ""  # where to save the run; empty: <home>/bench/peer-<start>.json

    def command(self) -> str:
        return command_line(["bench", "peer"], vars(self))


class System(Protocol):
    """One of the two deployments, as the workload drives it."""

    urls: list[str]  # its nodes, where clients connect
    companies: list[str]

    def processes(self) -> dict[str, tuple[int, str]]:
        """Its measured processes: name -> (pid, role in peer_results.ROLES)."""
        ...

    async def publish(self, phase: str, seconds: float) -> Publisher:
        """Publish at the configured rate for `seconds`; what it accepted."""
        ...


class Peer:
    """The Node.js deployment, publishing through its publisher process."""

    def __init__(self, peer: NodePeer, cfg: Config) -> None:
        self.peer = peer
        self.cfg = cfg
        self.urls = peer.urls
        self.companies = load.companies("pp", load.run_id(), cfg.companies)

    def processes(self) -> dict[str, tuple[int, str]]:
        return self.peer.processes()

    async def publish(self, phase: str, seconds: float) -> Publisher:
        assert self.peer.publisher is not None
        return await self.peer.publisher.publish(
            EVENT, phase, self.cfg.rate, seconds, self.companies
        )


class Tidewire:
    """The bench's own tidewire services, published to by @tidewire/emitter."""

    def __init__(self, stack: OwnStack, publisher: NodePublisher, cfg: Config) -> None:
        self.stack = stack
        self.publisher = publisher
        self.cfg = cfg
        self.urls = stack.edge_urls
        self.companies = load.companies("tp", load.run_id(), cfg.companies)

    def processes(self) -> dict[str, tuple[int, str]]:
        out: dict[str, tuple[int, str]] = {}
        for name, pid in self.stack.pids().items():
            role = "node" if name.startswith("edge-") else _TIDEWIRE_ROLES.get(name)
            if role is not None:
                out[name] = (pid, role)
        out["publisher"] = (self.publisher.pid, "publish")
        return out

    async def publish(self, phase: str, seconds: float) -> Publisher:
        return await self.publisher.publish(EVENT, phase, self.cfg.rate, seconds, self.companies)


async def _phase(
    name: str,
    system: System,
    fleet: Fleet,
    conn: Connected,
    cfg: Config,
    procs: Mapping[str, tuple[int, str]],
) -> Phase:
    churn = name == "churn"
    seconds = cfg.churn_seconds if churn else cfg.seconds
    tag = name[0]  # the phase mark in each publication's data
    pids = {proc: pid for proc, (pid, _) in procs.items()}
    roles = {proc: role for proc, (_, role) in procs.items()}
    await fleet.call("count", "counting", event=EVENT, phase=tag)
    before = runs.cpu_snapshot(pids)
    if churn:
        await fleet.call(
            "churn",
            "churning",
            urls=system.urls,
            periodMs=cfg.churn_period_s * 1000,
            offlineMs=cfg.churn_offline_s * 1000,
            switchShare=cfg.churn_switch,
        )
    print(f"  {name}: {cfg.rate:,} publications/s for {seconds:g} s", flush=True)
    published = await system.publish(tag, seconds)
    if churn:
        wait_s = cfg.churn_offline_s * 2 + cfg.drain_s
        calm = await fleet.call("calm", "calm", wait_s + 60, timeoutMs=wait_s * 1000)
        offline = sum(int(a["offline"]) for a in calm)
        if offline:
            print(f"  {offline} clients did not come back within {wait_s:g} s", flush=True)
    # CPU as of the last delivery: waiting for a publication that never comes is not work.
    after = runs.cpu_snapshot(pids)

    def progressed() -> None:
        after.update(runs.cpu_snapshot(pids))

    tally = await runs.drain(fleet, published.accepted, cfg.drain_s, progressed)
    churned = None
    if churn:
        churned = Churned.merge(await fleet.call("tally", "tally", accepted=published.accepted))
    return Phase.of(
        name, published, tally, conn.per_company, runs.cpu_used(before, after), roles, churned
    )


async def measure(s: StackSettings, cfg: Config, system: System) -> dict[str, Phase]:
    """Connect fresh clients to `system`, warm up, run the phases; their results."""
    lay = layout_of(s.home, s.lib_dir)
    fleet = await Fleet.start(cfg.node_procs, lay.logs / "bench-clients.out")
    try:
        conn = await runs.connect_spread(fleet, s, system.urls, system.companies, cfg.clients)
        procs = system.processes()
        for i, member in enumerate(fleet.members):
            procs[f"clients-{i}"] = (member.pid, "generator")
        if cfg.warmup_s > 0:
            # Unmeasured: JIT, caches and connection pools warm up; and every client holds an
            # offset to recover from (a Socket.IO client has none before its first packet).
            print(f"  warm-up: {cfg.rate:,} publications/s for {cfg.warmup_s:g} s", flush=True)
            await system.publish("w", cfg.warmup_s)
        out = {}
        for name in PHASES:
            if name in cfg.phases:
                out[name] = await _phase(name, system, fleet, conn, cfg, procs)
        await fleet.call("close", "closed")
        return out
    finally:
        await fleet.close()


async def _peer(s: StackSettings, cfg: Config) -> dict[str, Phase]:
    print("Node.js Socket.IO: its own Redis, two nodes and a publisher", flush=True)
    lay = layout_of(s.home, s.lib_dir)
    peer = await NodePeer.start(s.jwt_secret, lay.logs)
    try:
        return await measure(s, cfg, Peer(peer, cfg))
    finally:
        await peer.close()


async def _tidewire(s: StackSettings, cfg: Config) -> dict[str, Phase]:
    stack = OwnStack.beside(s, "peer", EDGE_ENV)
    own = stack.settings
    print(f"tidewire: ingest, projector and two edges on {own.topic_prefix}.*", flush=True)
    await asyncio.to_thread(stack.migrate)
    await asyncio.to_thread(stack.start)
    try:
        token = issue_publisher_token(own, "bench-peer")
        log = layout_of(s.home, s.lib_dir).logs / "bench-peer-tidewire-publisher.out"
        publisher = await NodePublisher.start(
            ["--tidewire", stack.ingest_url, "--token", token], log
        )
        try:
            return await measure(own, cfg, Tidewire(stack, publisher, cfg))
        finally:
            await publisher.close()
    finally:
        await asyncio.to_thread(stack.stop)


def _ratios(peer: Mapping[str, Phase], tw: Mapping[str, Phase]) -> dict[str, dict[str, Any]]:
    """tidewire/peer for each compared figure (null where the peer's is 0 or unmeasured)."""

    def div(a: float, b: float) -> float | None:
        return a / b if b and b == b and a == a else None

    out: dict[str, dict[str, Any]] = {}
    for name in PHASES:
        if name not in peer or name not in tw:
            continue
        a, b = peer[name], tw[name]
        out[name] = {
            "latency_p50": div(b.latency.p50, a.latency.p50),
            "latency_p99": div(b.latency.p99, a.latency.p99),
            "replay_p50": div(b.replay.p50, a.replay.p50),
            "replay_p99": div(b.replay.p99, a.replay.p99),
            "cpu_node": div(b.per_1000("node"), a.per_1000("node")),
            "cpu_node_broker": div(b.per_1000("node", "broker"), a.per_1000("node", "broker")),
            "cpu_all": div(
                b.per_1000("node", "publish", "broker", "store"),
                a.per_1000("node", "publish", "broker", "store"),
            ),
        }
    return out


async def run(s: StackSettings, cfg: Config) -> str:
    """Both systems, one after the other; returns the report (markdown) and saves JSON."""
    if min(cfg.clients, cfg.companies, cfg.rate, cfg.node_procs) < 1:
        raise RuntimeError("--clients, --companies, --rate and --node-procs must be positive")
    if min(cfg.seconds, cfg.churn_seconds, cfg.churn_period_s, cfg.churn_offline_s) <= 0:
        raise RuntimeError("the durations must be positive")
    if not 0 <= cfg.churn_switch <= 1:
        raise RuntimeError("--churn-switch is a share of the reconnects, within 0..1")
    runs.raise_fd_limit()
    started = datetime.now(UTC)
    machine = runs.machine()
    results = {"peer": await _peer(s, cfg), "tidewire": await _tidewire(s, cfg)}
    doc = runs.document(
        "peer",
        cfg,
        started,
        machine,
        systems={
            system: {name: p.as_json() for name, p in phases.items()}
            for system, phases in results.items()
        },
        ratios=_ratios(results["peer"], results["tidewire"]),
    )
    path = runs.save(s.home, "peer", started, doc, cfg.out)
    notes = (
        f"Machine: {machine['cpus']} CPUs, load average {runs.loads(machine['load_average'])}"
        f" before, {runs.loads(machine['load_average_after'])} after. Latency: client receipt"
        " − the publisher's clock just before its emit / POST. Replay: a reconnect call → the"
        " last publication sent before it that arrived after it. CPU: per 1,000 deliveries"
        " made, until the last delivery; the peer's Redis is its own, tidewire's Kafka, Redis"
        f" and Cassandra are shared with whatever else runs on the box. Saved: {path}"
    )
    return "\n\n".join(
        [
            f"command: {cfg.command()}",
            table(HEAD, rows(results["peer"], results["tidewire"])),
            table(PROCESS_HEAD, process_rows(results)),
            notes,
        ]
    )
