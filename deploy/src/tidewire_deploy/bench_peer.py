"""`tidewire bench peer`: tidewire's edges side by side with the Socket.IO deployment a Node.js
team would run instead, under one workload and one client harness, in one invocation.

The peer is Node.js Socket.IO 4.8 with connection state recovery and the Redis Streams adapter,
two nodes and a publisher, with a Redis of its own (bench_peer_node.py). Tidewire is the
running stack: its two edges, and its publish API.

**Publishing.** The peer's publisher is a helpdesk backend's `io.to("company-<id>").emit(...)`.
Tidewire's equivalent of that call is `POST /api/publish` with the company and no rooms (every
socket of the company), one publication per request: what `@tidewire/emitter` sends for one
emit. It is tidewire's real path for a backend's emit (ingest makes it durable in Kafka, the
projector gives it its place in the events log, the edges deliver it); webhooks would add
WhatsApp parsing and read models the peer has no counterpart for, and appending to the events
topic directly would skip the durability a 202 promises. The CPU rows therefore show the edges
alone against the nodes alone, then each whole path.

**Workload**, the same for both, each system with clients of its own (official
socket.io-client, bench-clients.mjs): `--clients` spread evenly over `--companies` and over the
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
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import psutil

from tidewire_deploy import bench_load
from tidewire_deploy.bench_edge_clients import ClientSpec, Connected, Fleet
from tidewire_deploy.bench_peer_node import NodePeer
from tidewire_deploy.bench_peer_results import (
    HEAD,
    PROCESS_HEAD,
    Churned,
    Phase,
    process_rows,
    rows,
)
from tidewire_deploy.bench_publish import (
    EVENT,
    Publications,
    _cpu_snapshot,
    _cpu_used,
    _healthy,
    _loads,
    _machine,
    _raise_fd_limit,
)
from tidewire_deploy.bench_publish import Config as PublishConfig
from tidewire_deploy.bench_publish_results import Publisher, Tally
from tidewire_deploy.bench_report import command_line, table
from tidewire_deploy.layout import layout_of
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_publisher_token, issue_token

PHASES = ("fanout", "churn")


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
    api: str = "http://127.0.0.1:8000"
    edges: tuple[int, ...] = (8101, 8102)
    projector: str = "http://127.0.0.1:8200"
    node_procs: int = 1
    in_flight: int = 128
    drain_s: float = 10.0  # stop waiting for deliveries after s without one
    json: str = ""  # where to save the run; empty: <home>/bench/peer-<start>.json

    def command(self) -> str:
        return command_line(["bench", "peer"], vars(self))


class System(Protocol):
    """One of the two deployments, as the workload drives it."""

    urls: list[str]  # its nodes, where clients connect
    companies: list[str]

    def processes(self) -> dict[str, tuple[int, str]]:
        """Its measured processes: name -> (pid, role in bench_peer_results.ROLES)."""
        ...

    async def publish(self, phase: str, seconds: float) -> Publisher:
        """Publish at the configured rate for `seconds`; what it accepted."""
        ...


def _port(url: str) -> int:
    from urllib.parse import urlparse

    port = urlparse(url).port
    if port is None:
        raise RuntimeError(f"no port in {url!r}")
    return port


def listening_pid(port: int) -> int | None:
    """The process listening on TCP `port` of this machine, if any."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return int(conn.pid) if conn.pid is not None else None
    return None


class Peer:
    """The Node.js deployment, publishing through its publisher process."""

    def __init__(self, peer: NodePeer, cfg: Config) -> None:
        self.peer = peer
        self.cfg = cfg
        self.urls = peer.urls
        self.companies = bench_load.companies("pp", bench_load.run_id(), cfg.companies)

    def processes(self) -> dict[str, tuple[int, str]]:
        return self.peer.processes()

    async def publish(self, phase: str, seconds: float) -> Publisher:
        return await self.peer.publish(EVENT, phase, self.cfg.rate, seconds, self.companies)


class Tidewire:
    """The running stack, publishing over `POST /api/publish` (bench_publish's publisher)."""

    def __init__(self, s: StackSettings, cfg: Config, session: aiohttp.ClientSession) -> None:
        self.s = s
        self.cfg = cfg
        self.urls = [f"http://127.0.0.1:{p}" for p in cfg.edges]
        publish_cfg = PublishConfig(
            sockets=cfg.clients,
            companies=cfg.companies,
            rate=cfg.rate,
            batch=1,
            api=cfg.api,
            edges=cfg.edges,
            in_flight=cfg.in_flight,
        )
        token = issue_publisher_token(s, "tidewire-bench-peer")
        self.pubs = Publications(session, publish_cfg, token)
        self.companies = self.pubs.names

    def processes(self) -> dict[str, tuple[int, str]]:
        wanted = {
            **{f"edge-{p}": (p, "node") for p in self.cfg.edges},
            "ingest": (_port(self.cfg.api), "publish"),
            "projector": (_port(self.cfg.projector), "publish"),
            "kafka": (self.s.kafka_port, "broker"),
            "redis": (self.s.redis_port, "broker"),
            "cassandra": (self.s.cassandra_port, "store"),
        }
        out: dict[str, tuple[int, str]] = {}
        for name, (port, role) in wanted.items():
            pid = listening_pid(port)
            if pid is not None:
                out[name] = (pid, role)
        out["publisher (this process)"] = (os.getpid(), "generator")
        return out

    async def publish(self, phase: str, seconds: float) -> Publisher:
        return await self.pubs.phase(phase, seconds)


async def _connect(fleet: Fleet, s: StackSettings, cfg: Config, system: System) -> Connected:
    names, urls = system.companies, system.urls
    n = len(names)
    specs = [
        ClientSpec(
            # Every company has clients on every node: a publication crosses nodes.
            url=urls[(i // n) % len(urls)],
            token=issue_token(s, names[i % n], f"agent-{i}"),
            company=names[i % n],
        )
        for i in range(cfg.clients)
    ]
    conn = await fleet.connect(specs, {"reconnection": False})
    if conn.ok == 0:
        raise RuntimeError(f"no client could connect: {conn.errors[:3]}")
    failures = f"; failures: {conn.errors[:3]}" if conn.failed else ""
    print(f"  connected {conn.ok} of {cfg.clients} clients to {', '.join(urls)}{failures}")
    return conn


async def _drain(
    fleet: Fleet, accepted: dict[str, list[int]], stall_s: float, pids: dict[str, int]
) -> tuple[Tally, list[Any], dict[str, float | None]]:
    """Wait until every client has every accepted publication of its company, or none arrived
    for `stall_s`. The tally, the raw answers and the CPU counters as of the last delivery
    (so a wait for a publication that never comes adds no idle CPU)."""
    answers = await fleet.call("tally", "tally", accepted=accepted)
    tally = Tally.merge(answers)
    cpu = _cpu_snapshot(pids)
    last_change = time.monotonic()
    while any(row[2] for row in tally.clients) and time.monotonic() - last_change < stall_s:
        await asyncio.sleep(0.5)
        answers = await fleet.call("tally", "tally", accepted=accepted)
        now = Tally.merge(answers)
        if now.total != tally.total:
            last_change = time.monotonic()
            cpu = _cpu_snapshot(pids)
        tally = now
    return tally, answers, cpu


async def _phase(
    name: str,
    system: System,
    fleet: Fleet,
    conn: Connected,
    cfg: Config,
    procs: dict[str, tuple[int, str]],
) -> Phase:
    churn = name == "churn"
    seconds = cfg.churn_seconds if churn else cfg.seconds
    tag = name[0]  # the phase mark in each publication's data
    pids = {proc: pid for proc, (pid, _) in procs.items()}
    roles = {proc: role for proc, (_, role) in procs.items()}
    await fleet.call("count", "counting", event=EVENT, phase=tag)
    before = _cpu_snapshot(pids)
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
    tally, answers, after = await _drain(fleet, published.accepted, cfg.drain_s, pids)
    churned = Churned.merge(answers) if churn else None
    return Phase.of(
        name, published, tally, conn.per_company, _cpu_used(before, after), roles, churned
    )


async def measure(s: StackSettings, cfg: Config, system: System) -> dict[str, Phase]:
    """Connect fresh clients to `system`, warm up, run the phases; their results."""
    lay = layout_of(s.home, s.lib_dir)
    fleet = await Fleet.start(cfg.node_procs, lay.logs / "bench-clients.out")
    try:
        conn = await _connect(fleet, s, cfg, system)
        procs = system.processes()
        for i, member in enumerate(fleet.members):
            procs[f"clients-{i}"] = (member.pid, "generator")
        if cfg.warmup_s > 0:
            # Unmeasured: JIT, caches and connection pools warm; and every client holds an
            # offset to recover from (Socket.IO has none before a client's first packet).
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


def _ratios(peer: dict[str, Phase], tw: dict[str, Phase]) -> dict[str, dict[str, float | None]]:
    """tidewire/peer for each compared figure (null where the peer's is 0 or missing)."""

    def div(a: float, b: float) -> float | None:
        return a / b if b and b == b and a == a else None

    out: dict[str, dict[str, float | None]] = {}
    for name in tw.keys() & peer.keys():
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


def _save(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


async def run(s: StackSettings, cfg: Config) -> str:
    """Both systems, one after the other; returns the report (markdown) and saves JSON."""
    if min(cfg.clients, cfg.companies, cfg.rate) < 1 or min(cfg.seconds, cfg.churn_seconds) <= 0:
        raise RuntimeError("--clients, --companies, --rate and the durations must be positive")
    if not 0 <= cfg.churn_switch <= 1:
        raise RuntimeError("--churn-switch is a share of the reconnects, within 0..1")
    if not await asyncio.to_thread(_healthy, cfg.api):
        raise RuntimeError(f"no ingest answers at {cfg.api}; start the stack (`tidewire up`)")
    for port in cfg.edges:
        if not await asyncio.to_thread(_healthy, f"http://127.0.0.1:{port}"):
            raise RuntimeError(f"no edge answers on :{port}; start the stack (`tidewire up`)")
    _raise_fd_limit()
    started = datetime.now(UTC)
    machine = _machine()
    lay = layout_of(s.home, s.lib_dir)
    results: dict[str, dict[str, Phase]] = {}

    print("Node.js Socket.IO (the peer): starting its Redis, two nodes and a publisher")
    peer = await NodePeer.start(s.jwt_secret, lay.logs)
    try:
        results["peer"] = await measure(s, cfg, Peer(peer, cfg))
    finally:
        await peer.close()

    print("tidewire: the running stack's edges, publishing over POST /api/publish")
    connector = aiohttp.TCPConnector(limit=cfg.in_flight)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        results["tidewire"] = await measure(s, cfg, Tidewire(s, cfg, session))

    machine["load_average_after"] = os.getloadavg()
    path = Path(cfg.json) if cfg.json else s.home / "bench" / f"peer-{started:%Y%m%dT%H%M%SZ}.json"
    _save(
        path,
        {
            "bench": "peer",
            "command": cfg.command(),
            "started": started.isoformat(),
            "machine": machine,
            "config": asdict(cfg),
            "systems": {
                system: {name: p.as_json() for name, p in phases.items()}
                for system, phases in results.items()
            },
            "ratios": _ratios(results["peer"], results["tidewire"]),
        },
    )
    notes = (
        f"Machine: {machine['cpus']} CPUs, load average {_loads(machine['load_average'])}"
        f" before, {_loads(machine['load_average_after'])} after. Latency: client receipt −"
        " the publisher's clock just before its emit / POST. Replay: a reconnect call → the"
        " last publication sent before it that arrived after it. CPU per 1,000 deliveries"
        " made; the peer's Redis is its own, tidewire's Kafka, Redis and Cassandra are shared"
        f" with whatever else runs on the box. Saved: {path}"
    )
    return "\n\n".join(
        [
            f"command: {cfg.command()}",
            table(HEAD, rows(results["peer"], results["tidewire"])),
            table(PROCESS_HEAD, process_rows(results)),
            notes,
        ]
    )
