"""What every socket benchmark run does around its workload: checks, CPU, machine, JSON.

Shared by `bench publish` and `bench e2e` (and meant for any benchmark that drives the node
clients of bench/js/clients.mjs with `count`/`tally`): the CPU each process used over a phase
(read from /proc/<pid>/stat, so any process on the machine can be measured, engines included),
what the machine was and how busy, a run saved as JSON, and waiting until the sockets received
what was accepted.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import socket
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from tidewire_bench.edge_clients import ClientSpec, Connected, Fleet
from tidewire_bench.publish_results import Tally
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token


def healthy(url: str, path: str = "/healthz") -> bool:
    """Whether `url` answers `path` with 200 within 2 s."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def free_port() -> int:
    """A TCP port free on the loopback now (for a process the benchmark starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> None:
    """Thousands of sockets need more descriptors than the usual soft limit of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (Linux), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float | None]:
    return {name: cpu_s(pid) for name, pid in pids.items()}


def cpu_used(
    before: Mapping[str, float | None], after: Mapping[str, float | None]
) -> dict[str, float]:
    """CPU seconds per process between two snapshots (processes alive at both)."""
    return {
        name: end - start
        for name, end in after.items()
        if end is not None and (start := before.get(name)) is not None
    }


def machine() -> dict[str, object]:
    """What the run's figures depend on: the CPUs and how busy the machine was."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def loads(value: object) -> str:
    """`1.2/3.4/5.6`: the 1, 5 and 15 minute load averages."""
    return "/".join(f"{v:.1f}" for v in value) if isinstance(value, tuple) else "?"


def document(
    bench: str, cfg: Any, started: datetime, machine: dict[str, object], **results: Any
) -> dict[str, Any]:
    """A saved run's JSON: which benchmark, how it was called (`cfg`, a benchmark's Config
    dataclass), when, on what machine (its load average now added) and its `results`."""
    machine["load_average_after"] = os.getloadavg()
    return {
        "bench": bench,
        "command": cfg.command(),
        "started": started.isoformat(),
        "machine": machine,
        "config": asdict(cfg),
        **results,
    }


def save(home: Path, bench: str, started: datetime, doc: Mapping[str, Any], out: str = "") -> Path:
    """The run as JSON at `out` (a bench's `--out`) or, without one, under <home>/bench/,
    named by the benchmark and its start time."""
    if out:
        write_json(Path(out), doc)
        return Path(out)
    folder = home / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bench}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    write_json(path, doc)
    return path


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


async def tally(fleet: Fleet, accepted: dict[str, list[int]]) -> Tally:
    return Tally.merge(await fleet.call("tally", "tally", accepted=accepted))


async def drain(
    fleet: Fleet,
    accepted: dict[str, list[int]],
    stall_s: float,
    progressed: Callable[[], None] | None = None,
) -> Tally:
    """Wait until every socket has every accepted number of its company, or no delivery came
    for `stall_s`; the final tally. (Not a count of deliveries: numbers whose request timed
    out may be delivered too, and would make up for ones still on their way.) `progressed`
    is called whenever deliveries were made since the last look (`bench peer` reads the CPU
    counters then, so the wait for a delivery that never comes is not counted as work)."""
    now = await tally(fleet, accepted)
    last_change = time.monotonic()
    while any(row[2] for row in now.clients) and time.monotonic() - last_change < stall_s:
        await asyncio.sleep(0.5)
        later = await tally(fleet, accepted)
        if later.total != now.total:
            last_change = time.monotonic()
            if progressed is not None:
                progressed()
        now = later
    return now


async def connect_spread(
    fleet: Fleet, s: StackSettings, urls: Sequence[str], names: Sequence[str], sockets: int
) -> Connected:
    """`sockets` agents' sockets, company i % len(names), the first len(names) on the first
    edge, the next on the second, and so on: every company has sockets on every edge once
    there are enough of them. Raises when none connects."""
    return await connect_all(fleet, spread(s, urls, names, sockets), urls, "sockets")


def spread(
    s: StackSettings, urls: Sequence[str], names: Sequence[str], count: int
) -> list[ClientSpec]:
    """`count` agents, company i % len(names), each company spread over all `urls`."""
    n = len(names)
    return [
        ClientSpec(
            url=urls[(i // n) % len(urls)],
            token=issue_token(s, names[i % n], f"agent-{i}"),
            company=names[i % n],
        )
        for i in range(count)
    ]


async def connect_all(
    fleet: Fleet, specs: Sequence[ClientSpec], urls: Sequence[str], noun: str
) -> Connected:
    """Connect every client of `specs` (no reconnection) and say how many did; raises when
    none connects, and hints at the edges' per-address limit when that refused some."""
    conn = await fleet.connect(specs, {"reconnection": False})
    if conn.ok == 0:
        raise RuntimeError(f"no {noun[:-1]} could connect: {conn.errors[:3]}")
    print(
        f"connected {conn.ok} of {len(specs)} {noun} to {', '.join(urls)}"
        + (f"; failures: {conn.errors[:3]}" if conn.failed else ""),
        flush=True,
    )
    if any("too many connects" in e for e in conn.errors):
        print(
            "the edges limit connects per address: export a higher"
            " TIDEWIRE_EDGE_CONNECTS_PER_ADDRESS before `tidewire up`"
            " (docs/configuration.md, edge limits)",
            flush=True,
        )
    return conn


def listener_pid(port: int) -> int | None:
    """The process listening on TCP `port` of this machine (Linux), None when none is found:
    an engine that another state folder started has no pid file here but is still measurable.
    Read from /proc by hand since no installed library maps a port to its process without
    extra privileges or dependencies."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None
