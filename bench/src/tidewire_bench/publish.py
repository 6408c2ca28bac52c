"""`tidewire bench publish`: gateway mode's path, `POST /api/publish` → sockets, at 1,000 sockets.

A helpdesk backend's emits as tidewire receives them: publications to every socket of a company
(`rooms` empty, namespace `/`), published over HTTP at a fixed open-loop rate, through ingest,
the commands topic, the projector (idempotency journal, events log) and the edges, to official
socket.io-clients in node processes (bench/js/clients.mjs, the clients of `bench edge`).

The publisher is Python (aiohttp, as `bench ingest`) rather than `@tidewire/emitter`: an open
loop needs requests that do not wait for each other, and the emitter sends one request at a
time by design (order); one publication per request (`--batch 1`) is also the emitter's worst
case and gives each publication its own 202. `--batch N` sends N per request, as the emitter's
batching does under load.

Each publication's `data` carries its company, its number within the company and the
publisher's wall-clock time just before the request (`{p, c, n, t}`); a socket's latency is its
receive time minus `t`, on the same machine clock. Each socket counts the numbers it received,
so lost (accepted by a 202, never received), duplicated and unconfirmed (received, but its
request failed) deliveries are counted per socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

import aiohttp

from tidewire_bench import load, runs
from tidewire_bench.edge_clients import Fleet
from tidewire_bench.publish_results import SUMMARY_HEAD, Publisher, Summary
from tidewire_bench.report import command_line, table
from tidewire_deploy.layout import layout_of
from tidewire_deploy.procs import Managed
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_publisher_token

EVENT = "tidewire-bench-publication"


@dataclass(frozen=True)
class Config:
    sockets: int = 1_000
    companies: int = 100
    rate: int = 200  # publications/s
    seconds: float = 20.0
    warmup_s: float = 5.0
    batch: int = 1
    api: str = "http://127.0.0.1:8000"
    edges: tuple[int, ...] = (8101, 8102)
    node_procs: int = 1
    in_flight: int = 128
    timeout_s: float = 30.0
    out: str = ""  # JSON file; default <home>/bench/publish-<start>.json

    def command(self) -> str:
        return command_line(["bench", "publish"], {k: v for k, v in vars(self).items() if v != ""})


class Publications:
    """This run's publisher: numbered publications, one company per request in turn."""

    def __init__(self, session: aiohttp.ClientSession, cfg: Config, token: str) -> None:
        self.session = session
        self.cfg = cfg
        self.url = cfg.api.rstrip("/") + "/api/publish"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.run = load.run_id()
        self.names = load.companies("bp", self.run, cfg.companies)
        self._next: Counter[str] = Counter()

    def _numbers(self, company: str) -> list[int]:
        first = self._next[company]
        self._next[company] += self.cfg.batch
        return list(range(first, first + self.cfg.batch))

    async def request(self, i: int, phase: str, into: Publisher) -> None:
        """Request `i` of `phase`: `batch` publications of one company. Never raises: the
        answer (or its absence) is recorded in `into`."""
        company = self.names[i % len(self.names)]
        numbers = self._numbers(company)
        sent_at = time.time() * 1000
        body = {
            "publications": [
                {
                    "id": f"{self.run}.{phase}.{company}.{n}",
                    "company_id": company,
                    "event": EVENT,
                    "data": {"p": phase, "c": company, "n": n, "t": sent_at},
                }
                for n in numbers
            ]
        }
        status = 0
        try:
            async with self.session.post(
                self.url, data=json.dumps(body), headers=self.headers
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        into.answered(company, numbers, status, sent_at, time.time() * 1000)

    async def phase(self, phase: str, seconds: float) -> Publisher:
        """Publish at the configured rate for `seconds`; what came back."""
        self._next.clear()
        into = Publisher()

        async def fire(i: int) -> None:
            await self.request(i, phase, into)

        await load.open_loop(self.cfg.rate / self.cfg.batch, seconds, fire)
        return into


def _processes(s: StackSettings, cfg: Config, fleet: Fleet) -> dict[str, int]:
    """The processes whose CPU the report shows: ingest and the edges found by the ports they
    listen on (`--api`, `--edges`: the ones measured, whoever started them; a pid file names
    a service of this state folder, maybe another stack's), the projector by its pid file (it
    has no port among the options), the node clients and this process."""
    pids: dict[str, int] = {}
    ports = {"ingest": urlparse(cfg.api).port, **{f"edge-{p}": p for p in cfg.edges}}
    for name, port in ports.items():
        if port is not None and (pid := runs.listener_pid(port)) is not None:
            pids[name] = pid
    lay = layout_of(s.home, s.lib_dir)
    if (pid := Managed("projector", lay.run, lay.logs / "projector.out").pid()) is not None:
        pids["projector"] = pid
    for i, member in enumerate(fleet.members):
        pids[f"clients-{i}" if len(fleet.members) > 1 else "clients"] = member.pid
    pids["publisher"] = os.getpid()
    return pids


async def run(s: StackSettings, cfg: Config) -> str:
    """Connect, warm up, measure; returns the report (markdown) and saves it as JSON."""
    if min(cfg.sockets, cfg.companies, cfg.rate, cfg.batch) < 1 or cfg.seconds <= 0:
        raise RuntimeError("--sockets, --companies, --rate, --batch and --seconds must be positive")
    if not await asyncio.to_thread(runs.healthy, cfg.api):
        raise RuntimeError(f"no ingest answers at {cfg.api}; start the stack (`tidewire up`)")
    for port in cfg.edges:
        if not await asyncio.to_thread(runs.healthy, f"http://127.0.0.1:{port}"):
            raise RuntimeError(f"no edge answers on :{port}; start the stack (`tidewire up`)")
    runs.raise_fd_limit()
    started = datetime.now(UTC)
    machine = runs.machine()
    lay = layout_of(s.home, s.lib_dir)
    token = issue_publisher_token(s, "tidewire-bench-publish")
    connector = aiohttp.TCPConnector(limit=cfg.in_flight)
    timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        pubs = Publications(session, cfg, token)
        fleet = await Fleet.start(cfg.node_procs, lay.logs / "bench-clients.out")
        try:
            urls = [f"http://127.0.0.1:{p}" for p in cfg.edges]
            conn = await runs.connect_spread(fleet, s, urls, pubs.names, cfg.sockets)
            if cfg.warmup_s > 0:
                # The same load, unmeasured: the first seconds measure the JIT of Kafka and
                # the caches of every process, not the steady state.
                print(f"warm-up: {cfg.rate:,} publications/s for {cfg.warmup_s:g} s", flush=True)
                await pubs.phase("w", cfg.warmup_s)
            await fleet.call("count", "counting", event=EVENT, phase="m")
            pids = _processes(s, cfg, fleet)
            before = runs.cpu_snapshot(pids)
            print(f"measuring: {cfg.rate:,} publications/s for {cfg.seconds:g} s", flush=True)
            published = await pubs.phase("m", cfg.seconds)
            tally = await runs.drain(fleet, published.accepted, cfg.timeout_s)
            cpu = runs.cpu_used(before, runs.cpu_snapshot(pids))
            await fleet.call("close", "closed")
        finally:
            await fleet.close()
    summary = Summary.of(published, tally, conn.per_company, cfg.rate, cpu)
    doc = runs.document(
        "publish",
        cfg,
        started,
        machine,
        summary=summary.as_json(),
    )
    path = runs.save(s.home, "publish", started, doc, cfg.out)
    fanout = cfg.sockets / cfg.companies
    notes = (
        f"Each publication goes to every socket of its company: {cfg.rate:,} publications/s ×"
        f" {fanout:,.0f} sockets = {cfg.rate * fanout:,.0f} deliveries/s wanted. Machine:"
        f" {machine['cpus']} CPUs, load average {runs.loads(machine['load_average'])} before,"
        f" {runs.loads(machine['load_average_after'])} after. Latency: socket"
        " receive time − the publisher's time just before its POST (same clock). CPU: the"
        " ingest and edges measured (found by their ports), this state folder's projector, the"
        f" node clients and the publisher. Saved: {path}"
    )
    return "\n\n".join([f"command: {cfg.command()}", table(SUMMARY_HEAD, summary.rows()), notes])
