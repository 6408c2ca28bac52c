"""`tidewire bench idle`: what every process of the stack costs while nothing happens.

A helpdesk's stack is idle most of the day, and at a helpdesk's pace (a few messages a second)
the idle cost is most of what a message costs (docs/benchmarks.md). The benchmark starts its
own ingest, projector, outbound and two edges (own_stack.py), connects agents' sockets to both
edges (so each edge follows its companies' partitions), passes a few webhooks through the
whole pipeline (every consumer has joined, read and caught up), lets it settle, then reads each
process's user + system CPU from /proc/<pid>/stat before and after `--seconds` of nothing. The
engines (Kafka, Cassandra, Redis) are measured too; they may serve other stacks at the same
time (a `tidewire up`, test runs), which the report cannot tell apart: measure on a quiet box.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from tidewire_bench import runs
from tidewire_bench.e2e import EDGE_ENV, Webhooks, _provision
from tidewire_bench.e2e import Config as E2EConfig
from tidewire_bench.edge_clients import Fleet
from tidewire_bench.own_stack import OwnStack, isolated
from tidewire_bench.report import command_line, table
from tidewire_deploy.layout import layout_of
from tidewire_platform.settings import StackSettings

HEAD = ["process", "CPU s", "ms per s", "share of the stack"]


@dataclass(frozen=True)
class Config:
    seconds: float = 30.0  # the idle window measured
    settle_s: float = 10.0  # after the warm-up's deliveries, before the window
    companies: int = 10
    sockets: int = 100  # agents' sockets, spread over the companies and both edges
    warmup: int = 20  # webhooks through the whole pipeline first (0: none)
    node_procs: int = 1
    out: str = ""  # JSON file; default <home>/bench/idle-<start>.json

    def command(self) -> str:
        return command_line(["bench", "idle"], {k: v for k, v in vars(self).items() if v != ""})


def rows(used: Mapping[str, float], seconds: float) -> list[list[object]]:
    """One row per process (CPU seconds over the window, ms per second, share of the
    stack's), largest first, then the stack's total."""
    total = sum(used.values())
    out: list[list[object]] = [
        [name, f"{cpu:.2f}", f"{1000 * cpu / seconds:.1f}", f"{cpu / total:.0%}" if total else "–"]
        for name, cpu in sorted(used.items(), key=lambda item: -item[1])
    ]
    out.append(["stack", f"{total:.2f}", f"{1000 * total / seconds:.1f}", "100%" if total else "–"])
    return out


async def _warm_up(stack: OwnStack, fleet: Fleet, hooks: Webhooks, cfg: Config) -> None:
    """`cfg.warmup` webhooks, one a companies' turn, until every socket got its own."""
    if cfg.warmup <= 0:
        return
    await fleet.call("count", "counting", event="appMessage", phase="w")
    seconds = cfg.warmup / hooks.cfg.rate
    print(f"warm-up: {cfg.warmup} webhooks through the pipeline", flush=True)
    sent = await hooks.phase("w", seconds)
    tally = await runs.drain(fleet, sent.accepted, 30.0)
    if any(row[1] or row[2] for row in tally.clients):
        raise RuntimeError("the warm-up's webhooks did not all reach their sockets")


async def _measure(pids: Mapping[str, int], seconds: float) -> tuple[dict[str, float], float]:
    """CPU seconds per process over `seconds` of nothing, and the span really measured."""
    before, at = runs.cpu_snapshot(pids), time.monotonic()
    await asyncio.sleep(seconds)  # the measurement itself: CPU used while nothing happens
    span = time.monotonic() - at
    return runs.cpu_used(before, runs.cpu_snapshot(pids)), span


async def run(s: StackSettings, cfg: Config) -> str:
    """Start the services, connect, warm up, settle, measure; the report (markdown), saved
    as JSON."""
    if min(cfg.sockets, cfg.companies, cfg.node_procs) < 1 or cfg.seconds <= 0:
        raise RuntimeError("--sockets, --companies, --node-procs and --seconds must be positive")
    runs.raise_fd_limit()
    started = datetime.now(UTC)
    machine = runs.machine()
    own = isolated(s, "idle")
    lay = layout_of(s.home, s.lib_dir)
    stack = OwnStack(own, "bench-idle", EDGE_ENV)
    print(f"starting ingest, projector, outbound and two edges on {own.topic_prefix}.*", flush=True)
    hook_cfg = E2EConfig(rate=10.0, companies=cfg.companies)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        hooks = Webhooks(session, hook_cfg, stack.ingest_url)
        await asyncio.to_thread(stack.migrate)
        await _provision(own, hooks)
        await asyncio.to_thread(stack.start)
        try:
            fleet = await Fleet.start(cfg.node_procs, lay.logs / "bench-clients.out")
            try:
                await runs.connect_spread(fleet, own, stack.edge_urls, hooks.names, cfg.sockets)
                await _warm_up(stack, fleet, hooks, cfg)
                print(f"settling {cfg.settle_s:g} s, then {cfg.seconds:g} s idle", flush=True)
                await asyncio.sleep(cfg.settle_s)  # let start-up work (JIT, caches) pass
                pids = stack.pids()
                harness = {f"clients-{i}": m.pid for i, m in enumerate(fleet.members)}
                harness["bench"] = os.getpid()
                used, span = await _measure({**pids, **harness}, cfg.seconds)
                await fleet.call("close", "closed")
            finally:
                await fleet.close()
        finally:
            await asyncio.to_thread(stack.stop)
    stack_used = {name: used[name] for name in pids if name in used}
    harness_used = {name: used[name] for name in harness if name in used}
    doc = runs.document(
        "idle",
        cfg,
        started,
        machine,
        seconds=span,
        stack_cpu_s=stack_used,
        harness_cpu_s=harness_used,
    )
    path = runs.save(s.home, "idle", started, doc, cfg.out)
    harness_text = ", ".join(f"{n} {v:.2f} s" for n, v in harness_used.items())
    notes = (
        f"Idle for {span:.1f} s with {cfg.sockets} sockets of {cfg.companies} companies"
        f" connected to both edges, after {cfg.warmup} webhooks went through. Machine:"
        f" {machine['cpus']} CPUs, load average {runs.loads(machine['load_average'])} before,"
        f" {runs.loads(machine['load_average_after'])} after. The engines may also serve"
        f" other stacks on this machine. Harness (not in the stack): {harness_text}."
        f" Saved: {path}"
    )
    return "\n\n".join([f"command: {cfg.command()}", table(HEAD, rows(stack_used, span)), notes])
