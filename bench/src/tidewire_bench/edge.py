"""`tidewire bench edge`: fan-out, replay after a drop, and recovery from a killed edge node.

Clients are the official socket.io-client in node processes (bench/js/clients.mjs);
this module connects them, produces events and collects what they measured.

- fan-out: clients of a few companies on the running edges (`--edges`) while events flow at a
  fixed open-loop rate. `--via direct` appends `message.created` events to the events topic
  itself, which isolates the edge; `--via projector` appends `message.inbound` commands to the
  commands topic, so the figure is the whole pipeline after ingest. Latency is the client's
  receive time minus the event's acceptedAt.
- replay: every client drops its transport (no DISCONNECT), `--missed` events per company are
  appended, then all reconnect at once (a network partition healing) or spread evenly over
  `--reconnect-spread-s` (independent drops); measured from each client's reconnect call to
  the last missed event it received, and whether socket.recovered was true.
- kill: the bench starts an edge of its own, connects the clients to it with reconnection on,
  SIGKILLs it, appends the missed events and starts it again on the same port; measured from
  the kill to each recovered connect and to the last missed event. With `--kill-via balancer`
  (the default) the clients reach the edges through a TCP balancer (balancer.py) that
  sends reconnects to the running edges (`--edges`) while the killed one is down, as a load
  balancer would, and the killed edge is restarted once they recovered (the report gives its
  start-up time); `--kill-via same-port` makes them wait for the restart.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from tidewire_bench import load, runs
from tidewire_bench.edge_clients import ClientSpec, Connected, Fleet
from tidewire_bench.edge_results import (
    FANOUT_HEAD,
    KILL_HEAD,
    REPLAY_HEAD,
    Delivered,
    Recovery,
    fanout_row,
    kill_row,
    replay_row,
)
from tidewire_bench.report import command_line, table
from tidewire_deploy.layout import layout_of
from tidewire_deploy.procs import Managed
from tidewire_platform.contracts import Event, now_ms
from tidewire_platform.kafka_io import append
from tidewire_platform.settings import StackSettings

CONTACTS = 20  # customers per company the events are about


@dataclass(frozen=True)
class Config:
    clients: int = 1_000
    companies: int = 10
    edges: tuple[int, ...] = (8101, 8102)
    rate: int = 1_000
    seconds: float = 10.0
    warmup_s: float = 5.0
    via: tuple[str, ...] = ("direct", "projector")
    missed: int = 20
    phases: tuple[str, ...] = ("fanout", "replay", "kill")
    node_procs: int = 1
    reconnect_delay_ms: int = 1_000
    reconnect_spread_s: float = 0.0
    kill_via: str = "balancer"
    timeout_s: float = 30.0

    def command(self) -> str:
        return command_line(["bench", "edge"], vars(self))


@dataclass(frozen=True)
class Missed:
    """Events for clients to miss, ready to append: (company, record) pairs."""

    firsts: list[tuple[str, bytes]]
    lasts: list[tuple[str, bytes]]  # each company's last one, appended after the others
    last_ids: dict[str, str]  # company -> id of its last event


class Workload:
    """This run's companies, agents and producer; every event it makes is numbered."""

    def __init__(self, s: StackSettings, cfg: Config) -> None:
        self.s = s
        self.run = load.run_id()
        self.names = load.companies("be", self.run, cfg.companies)
        self.producer: AIOKafkaProducer | None = None
        self._seq = itertools.count()

    def specs(self, urls: list[str], count: int) -> list[ClientSpec]:
        """`count` agents, company by company in turn, each company spread over all `urls`."""
        return runs.spread(self.s, urls, self.names, count)

    async def start(self) -> None:
        self.producer = await load.started_producer(self.s, "tidewire-bench-edge")

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    def _direct(self, company: str) -> Event:
        seq = next(self._seq)
        return load.direct_event(company, seq % CONTACTS, self.run, seq)

    async def event(self, company: str) -> str:
        """Append one event straight to the events topic; returns its id."""
        event = self._direct(company)
        assert self.producer is not None, "Workload.start() first"
        await load.append_event(self.producer, self.s, event)
        return event.id

    async def command(self, company: str) -> None:
        """Append one inbound command for the projector to turn into an event."""
        seq = next(self._seq)
        command = load.inbound_command(company, seq % CONTACTS, self.run, seq)
        assert self.producer is not None, "Workload.start() first"
        await load.append_command(self.producer, self.s, command)

    def prepare_missed(self, per_company: int) -> Missed:
        """`per_company` events for every company, built and serialised but not appended: a
        phase that measures recovery appends them while clients recover, and building them
        then would take the CPU those clients recover on (the events come from elsewhere in
        a real deployment)."""
        firsts = [self._direct(c) for c in self.names for _ in range(per_company - 1)]
        lasts = [self._direct(c) for c in self.names]
        return Missed(
            [(e.company_id, e.to_bytes()) for e in firsts],
            [(e.company_id, e.to_bytes()) for e in lasts],
            {e.company_id: e.id for e in lasts},
        )

    async def append_missed(self, missed: Missed) -> dict[str, str]:
        """Append prepared events; returns the id of each company's last one. The last ones
        are appended after the others were acknowledged, so they are last. At most 2,000
        appends wait at once: tens of thousands time out in the producer's queue."""
        producer = self.producer
        assert producer is not None, "Workload.start() first"
        for records in (missed.firsts, missed.lasts):

            async def fire(i: int, records: list[tuple[str, bytes]] = records) -> None:
                company, value = records[i]
                await append(producer, self.s, self.s.events_topic, company, value)

            paced = await load.as_fast_as_possible(len(records), fire)
            if paced.failed:
                raise RuntimeError(f"{paced.failed} of {len(records)} missed events not appended")
        return missed.last_ids


def _start_edge(edge: Managed, port: int, timeout_s: float = 60.0) -> None:
    from tidewire_deploy.supervisor import edge_argv

    argv = edge_argv(port)
    edge.start(argv, " ".join(argv[2:]))
    deadline = time.monotonic() + timeout_s
    while not runs.healthy(f"http://127.0.0.1:{port}"):
        if not edge.running():
            raise RuntimeError(f"bench edge on port {port} exited; see {edge.log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench edge on port {port} not healthy; see {edge.log}")
        time.sleep(0.05)


async def _drain(fleet: Fleet, expected: int, stall_s: float) -> Delivered:
    """Poll the clients until `expected` deliveries arrived or none came for `stall_s`."""
    delivered = Delivered.merge(await fleet.call("report", "report"))
    last_change = time.monotonic()
    while delivered.total < expected and time.monotonic() - last_change < stall_s:
        await asyncio.sleep(0.5)
        now = Delivered.merge(await fleet.call("report", "report"))
        if now.total != delivered.total:
            last_change = time.monotonic()
        delivered = now
    return delivered


async def fanout(cfg: Config, w: Workload, fleet: Fleet, conn: Connected, via: str) -> list[object]:
    sent: Counter[str] = Counter()

    async def fire(i: int) -> None:
        company = w.names[i % len(w.names)]
        if via == "direct":
            await w.event(company)
        else:
            await w.command(company)
        sent[company] += 1

    if cfg.warmup_s > 0:
        # The same load, unmeasured: the first seconds after a start measure Kafka's JIT
        # and the edges' caches, not the steady state the target is about.
        await load.open_loop(cfg.rate, cfg.warmup_s, fire)
        sent.clear()
    await fleet.call("measure", "measuring", since=now_ms())
    paced = await load.open_loop(cfg.rate, cfg.seconds, fire)
    expected = sum(n * conn.per_company[c] for c, n in sent.items())
    delivered = await _drain(fleet, expected, cfg.timeout_s)  # a stall, not a deadline
    return fanout_row(via, conn.ok, cfg.companies, cfg.rate, paced, expected, delivered)


async def _collect(fleet: Fleet, cfg: Config, last: dict[str, str]) -> list[Any]:
    wait_s = cfg.timeout_s + cfg.reconnect_spread_s
    answers = await fleet.call(
        "collect", "collected", wait_s + 30, last=last, timeoutMs=wait_s * 1000
    )
    return [row for a in answers for row in a["clients"]]


async def replay(cfg: Config, w: Workload, fleet: Fleet) -> Recovery:
    await fleet.call("drop", "dropped")
    await fleet.call("arm", "armed", since=now_ms())
    last = await w.append_missed(w.prepare_missed(cfg.missed))
    await fleet.call("reconnect", "reconnecting", spreadMs=cfg.reconnect_spread_s * 1000)
    return Recovery.of(await _collect(fleet, cfg, last), cfg.missed)


async def _warm(w: Workload, fleet: Fleet, conn: Connected, cfg: Config) -> None:
    """One event per company, delivered to every client: all are live and have a cursor."""
    await fleet.call("measure", "measuring", since=now_ms())
    await asyncio.gather(*(w.event(c) for c in w.names))
    await _drain(fleet, conn.ok, cfg.timeout_s)


def _start_balancer(balancer: Managed, port: int, backends: list[int]) -> None:
    argv = [sys.executable, "-m", "tidewire_bench.balancer", "--listen", str(port)]
    argv += ["--backends", ",".join(str(b) for b in backends)]
    balancer.start(argv, f"--listen {port}")
    deadline = time.monotonic() + 30
    while not runs.healthy(f"http://127.0.0.1:{port}"):
        if not balancer.running() or time.monotonic() > deadline:
            raise RuntimeError(f"bench balancer on port {port} did not come up; see {balancer.log}")
        time.sleep(0.05)


async def kill(cfg: Config, w: Workload, fleet: Fleet, run_dir: Path, logs: Path) -> list[object]:
    port = runs.free_port()
    edge = Managed(f"bench-edge-{port}", run_dir, logs / f"bench-edge-{port}.out")
    front = runs.free_port()
    balancer = Managed(f"bench-balancer-{front}", run_dir, logs / "bench-balancer.out")
    try:
        await asyncio.to_thread(_start_edge, edge, port)
        url = f"http://127.0.0.1:{port}"
        if cfg.kill_via == "balancer":
            await asyncio.to_thread(_start_balancer, balancer, front, [port, *cfg.edges])
            url = f"http://127.0.0.1:{front}"
        specs = w.specs([url], cfg.clients)
        options = {"reconnection": True, "reconnectionDelay": cfg.reconnect_delay_ms}
        conn = await fleet.connect(specs, options)
        print(
            f"kill: {conn.ok} clients on bench edge :{port} via {url} ({conn.failed} failed)",
            flush=True,
        )
        await _warm(w, fleet, conn, cfg)
        await fleet.call("arm", "armed", since=now_ms())
        missed = w.prepare_missed(cfg.missed)
        killed_at = time.time() * 1000
        await asyncio.to_thread(edge.kill)
        last = await w.append_missed(missed)
        appended_s = time.time() - killed_at / 1000
        print(f"kill: missed events appended {appended_s:.2f} s after the kill", flush=True)
        if cfg.kill_via == "balancer":
            # The clients move to the other edges; the replacement starts afterwards, as a
            # new pod would on another machine rather than on the cores they recover on.
            rows = await _collect(fleet, cfg, last)
            restarted_at = time.time()
            await asyncio.to_thread(_start_edge, edge, port)
            back_s = time.time() - restarted_at
        else:
            await asyncio.to_thread(_start_edge, edge, port)
            back_s = time.time() - killed_at / 1000
            rows = await _collect(fleet, cfg, last)
        return kill_row(Recovery.of(rows, cfg.missed, origin=killed_at), cfg.missed, back_s)
    finally:
        try:
            await fleet.call("close", "closed")
        finally:
            await asyncio.to_thread(edge.stop, 10.0)
            await asyncio.to_thread(balancer.stop, 10.0)


async def run(s: StackSettings, cfg: Config) -> str:
    """Run the chosen phases; returns the report (markdown)."""
    if cfg.missed < 1 or cfg.clients < 1 or cfg.companies < 1:
        raise RuntimeError("--missed, --clients and --companies must be at least 1")
    runs.raise_fd_limit()
    lay = layout_of(s.home, s.lib_dir)
    w = Workload(s, cfg)
    parts = [f"command: {cfg.command()}"]
    if {"fanout", "replay"} & set(cfg.phases):
        for port in cfg.edges:
            if not await asyncio.to_thread(runs.healthy, f"http://127.0.0.1:{port}"):
                raise RuntimeError(f"no edge answers on :{port}; start the stack (`tidewire up`)")
    await w.start()
    fleet = await Fleet.start(cfg.node_procs, lay.logs / "bench-clients.out")
    try:
        if {"fanout", "replay"} & set(cfg.phases):
            urls = [f"http://127.0.0.1:{p}" for p in cfg.edges]
            conn = await runs.connect_all(fleet, w.specs(urls, cfg.clients), urls, "clients")
            if "fanout" in cfg.phases:
                rows = []
                for via in cfg.via:
                    print(
                        f"fan-out via {via}: {cfg.rate:,} events/s for {cfg.seconds:g} s",
                        flush=True,
                    )
                    rows.append(await fanout(cfg, w, fleet, conn, via))
                parts.append(table(FANOUT_HEAD, rows))
                per_s = cfg.rate * conn.ok / cfg.companies
                parts[-1] += (
                    f"\n\nEach event goes to every client of its company: {cfg.rate:,} events/s"
                    f" × {conn.ok:,} clients ÷ {cfg.companies} companies = {per_s:,.0f}"
                    " deliveries/s in all. Latency: client receive time − acceptedAt."
                )
            if "replay" in cfg.phases:
                print(f"replay: drop, {cfg.missed} events per company, reconnect", flush=True)
                row = replay_row(await replay(cfg, w, fleet), cfg.missed, cfg.reconnect_spread_s)
                parts.append(table(REPLAY_HEAD, [row]))
            await fleet.call("close", "closed")
        if "kill" in cfg.phases:
            print("kill: SIGKILL an edge of the bench's own under its clients", flush=True)
            parts.append(table(KILL_HEAD, [await kill(cfg, w, fleet, lay.run, lay.logs)]))
    finally:
        await fleet.close()
        await w.stop()
    return "\n\n".join(parts)
