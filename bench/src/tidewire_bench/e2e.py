"""`tidewire bench e2e`: signed webhooks at a fixed rate, through the whole pipeline, to sockets.

What one customer message costs and how long it takes, end to end: a WhatsApp webhook signed
with the company's app secret is POSTed to ingest (→ commands topic), folded by the projector
(→ Cassandra read models and the events log), fanned out by two edge nodes to official
socket.io-clients (bench/js/clients.mjs) connected to both, as an agent's browser would be.

The benchmark starts those services itself (own_stack.py: ingest, projector, outbound and two
edges on free ports, topics and keyspace of their own) against the running engines, so it
knows every pid and sets what it needs (many connects from one address). Each webhook's text
is `{p, c, n, t}`: its phase, company, number within the company and the sender's wall-clock
time just before the POST; a socket's latency is its receive time minus `t` (one machine, one
clock). Lost and duplicated are counted per socket against the webhooks answered 200 for its
company. CPU per message: user + system seconds of every process a message passes through,
engines included (/proc/<pid>/stat before and after the measured phase, which ends when every
socket has every message or deliveries stall), over the messages accepted. The engines may
serve others too (a `tidewire up`, test runs): the same processes' CPU over `--idle-s` seconds
without webhooks just before gives the figure above idle as well.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from tidewire_bench import load, runs
from tidewire_bench.e2e_results import HEAD, Summary
from tidewire_bench.edge_clients import Fleet
from tidewire_bench.ingest import webhook
from tidewire_bench.own_stack import OwnStack
from tidewire_bench.publish_results import Publisher, Tally
from tidewire_bench.report import command_line, table
from tidewire_deploy.layout import layout_of
from tidewire_ingest.signature import expected_signature
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import Connection, Tenant

SECRET = "bench-e2e-app-secret-0123456789"
# The bench's sockets all come from 127.0.0.1; the edges' default limit is for the internet.
EDGE_ENV = {"TIDEWIRE_EDGE_CONNECTS_PER_ADDRESS": "1000000"}


@dataclass(frozen=True)
class Config:
    rate: float = 10.0  # webhooks/s, open loop, companies in turn
    seconds: float = 30.0
    warmup_s: float = 5.0
    idle_s: float = 10.0  # the stack's idle CPU, measured before the phase (0: not measured)
    companies: int = 10
    sockets: int = 100  # spread over the companies and both edges
    contacts: int = 20  # customers per company (tickets)
    node_procs: int = 1
    in_flight: int = 64
    timeout_s: float = 30.0
    out: str = ""  # JSON file; default <home>/bench/e2e-<start>.json

    def command(self) -> str:
        return command_line(["bench", "e2e"], {k: v for k, v in vars(self).items() if v != ""})


class Webhooks:
    """This run's sender: company i % companies, its next number, signed for its phone."""

    def __init__(self, session: aiohttp.ClientSession, cfg: Config, url: str) -> None:
        self.session = session
        self.cfg = cfg
        self.url = url.rstrip("/") + "/webhooks/whatsapp"
        self.run = load.run_id()
        self.names = load.companies("e2e", self.run, cfg.companies)
        self._next: Counter[str] = Counter()

    def phone(self, company: str) -> str:
        return f"phone-{company}"

    async def send(self, i: int, phase: str, into: Publisher) -> None:
        """Webhook `i` of `phase`; never raises (the answer, or none, goes to `into`)."""
        company = self.names[i % len(self.names)]
        n = self._next[company]
        self._next[company] += 1
        contact = (i // len(self.names)) % self.cfg.contacts
        sent_at = time.time() * 1000
        text = json.dumps({"p": phase, "c": company, "n": n, "t": sent_at})
        body = webhook(
            self.phone(company),
            f"wamid.e2e.{self.run}.{phase}.{company}.{n}",
            load.wa_id(contact),
            text,
        )
        headers = {
            "content-type": "application/json",
            "x-hub-signature-256": expected_signature(body, SECRET),
        }
        status = 0
        try:
            async with self.session.post(self.url, data=body, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        into.answered(company, [n], status, sent_at, time.time() * 1000)

    async def phase(self, phase: str, seconds: float) -> Publisher:
        self._next.clear()
        into = Publisher(ok=200)

        async def fire(i: int) -> None:
            await self.send(i, phase, into)

        await load.open_loop(self.cfg.rate, seconds, fire)
        return into


async def _provision(s: StackSettings, hooks: Webhooks) -> None:
    """The run's companies, each with a WhatsApp number whose webhooks ingest accepts."""
    from tidewire_platform.cql import connect
    from tidewire_platform.tenants_cassandra import CassandraTenantStore

    session = await asyncio.to_thread(connect, s)
    try:
        store = CassandraTenantStore(session, s.cassandra_keyspace)
        for company in hooks.names:
            connection = Connection(company, hooks.phone(company), None, "bench-verify", SECRET)
            await store.upsert(Tenant(company, "Benchmark"), connection)
    finally:
        session.cluster.shutdown()


@dataclass(frozen=True)
class Measured:
    """The measured phase: the sender's answers, the sockets' tally, CPU per process."""

    sent: Publisher
    tally: Tally
    stack_cpu_s: dict[str, float]
    harness_cpu_s: dict[str, float]
    idle_cpu_s_per_s: dict[str, float]
    phase_s: float


async def _measure(stack: OwnStack, fleet: Fleet, hooks: Webhooks, cfg: Config) -> Measured:
    """Warm up until the pipeline delivers, then the measured phase and its CPU."""
    await fleet.call("count", "counting", event="appMessage", phase="w")
    if cfg.warmup_s > 0:
        # Unmeasured: the first seconds measure the JIT of Kafka, a projector joining its
        # group and every process's caches, not the steady state. Waiting for its deliveries
        # also proves the pipeline works before anything is counted.
        print(f"warm-up: {cfg.rate:g} webhooks/s for {cfg.warmup_s:g} s", flush=True)
        warm = await hooks.phase("w", cfg.warmup_s)
        await runs.drain(fleet, warm.accepted, cfg.timeout_s)
    stack_pids = stack.pids()
    idle: dict[str, float] = {}
    if cfg.idle_s > 0:
        print(f"idle: {cfg.idle_s:g} s with the sockets connected, no webhooks", flush=True)
        start, at = runs.cpu_snapshot(stack_pids), time.monotonic()
        await asyncio.sleep(cfg.idle_s)  # the measurement itself: CPU used while nothing happens
        span = time.monotonic() - at
        idle = {k: v / span for k, v in runs.cpu_used(start, runs.cpu_snapshot(stack_pids)).items()}
    await fleet.call("count", "counting", event="appMessage", phase="m")
    harness_pids = {f"clients-{i}": m.pid for i, m in enumerate(fleet.members)}
    harness_pids["sender"] = os.getpid()
    before, at = runs.cpu_snapshot({**stack_pids, **harness_pids}), time.monotonic()
    print(f"measuring: {cfg.rate:g} webhooks/s for {cfg.seconds:g} s", flush=True)
    sent = await hooks.phase("m", cfg.seconds)
    tally = await runs.drain(fleet, sent.accepted, cfg.timeout_s)
    used = runs.cpu_used(before, runs.cpu_snapshot({**stack_pids, **harness_pids}))
    return Measured(
        sent,
        tally,
        {name: used[name] for name in stack_pids if name in used},
        {name: used[name] for name in harness_pids if name in used},
        idle,
        time.monotonic() - at,
    )


async def run(s: StackSettings, cfg: Config) -> str:
    """Start the services, connect, warm up, measure; the report (markdown), saved as JSON."""
    if min(cfg.sockets, cfg.companies, cfg.contacts, cfg.node_procs) < 1:
        raise RuntimeError("--sockets, --companies, --contacts and --node-procs must be positive")
    if cfg.rate <= 0 or cfg.seconds <= 0:
        raise RuntimeError("--rate and --seconds must be positive")
    runs.raise_fd_limit()
    started = datetime.now(UTC)
    machine = runs.machine()
    lay = layout_of(s.home, s.lib_dir)
    stack = OwnStack.beside(s, "e2e", EDGE_ENV)
    own = stack.settings
    print(f"starting ingest, projector, outbound and two edges on {own.topic_prefix}.*", flush=True)
    connector = aiohttp.TCPConnector(limit=cfg.in_flight)
    timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        hooks = Webhooks(session, cfg, stack.ingest_url)
        await asyncio.to_thread(stack.migrate)
        await _provision(own, hooks)
        await asyncio.to_thread(stack.start)
        try:
            fleet = await Fleet.start(cfg.node_procs, lay.logs / "bench-clients.out")
            try:
                conn = await runs.connect_spread(
                    fleet, own, stack.edge_urls, hooks.names, cfg.sockets
                )
                m = await _measure(stack, fleet, hooks, cfg)
                await fleet.call("close", "closed")
            finally:
                await fleet.close()
        finally:
            await asyncio.to_thread(stack.stop)
    summary = Summary.of(
        m.sent,
        m.tally,
        conn.per_company,
        cfg.rate,
        m.stack_cpu_s,
        m.harness_cpu_s,
        m.idle_cpu_s_per_s,
        m.phase_s,
    )
    doc = runs.document(
        "e2e",
        cfg,
        started,
        machine,
        summary=summary.as_json(),
    )
    path = runs.save(s.home, "e2e", started, doc, cfg.out)
    measured = ", ".join(summary.stack_cpu_s) or "none"
    notes = (
        f"One message: a signed webhook with one text message, to every socket of its company"
        f" ({cfg.sockets / cfg.companies:g} sockets, on both edges). Machine: {machine['cpus']}"
        f" CPUs, load average {runs.loads(machine['load_average'])} before,"
        f" {runs.loads(machine['load_average_after'])} after. Latency: socket receive time −"
        " the sender's time just before its POST (same clock). Stack CPU over the phase (until"
        f" every socket had every message), per accepted message: {measured}. Saved: {path}"
    )
    return "\n\n".join([f"command: {cfg.command()}", table(HEAD, summary.rows()), notes])
