"""The real local stack for tests: engines once per run, services on test ports.

Engines are reused when already running (a developer's `tidewire infra up`), otherwise started
here and stopped when the run ends. Services run as real processes (uvicorn, faust worker) on
ports of their own so a developer's `tidewire up` on 8000/8101/8102 is never disturbed.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tidewire_deploy import infra
from tidewire_deploy.layout import layout_of
from tidewire_deploy.procs import Managed
from tidewire_platform.settings import StackSettings

_HANDED_OUT: set[int] = set()
# Below Linux's ephemeral range (32768-60999): a port the kernel picks for bind(0) is also one
# it may give any outgoing connection (a Kafka client's, say) as its local port before the
# test's server binds it. Ports here are never chosen by the kernel, and never handed out twice.
_TEST_PORTS = range(20000, 32000)


def free_port() -> int:
    """A port nothing listens on now, outside the kernel's ephemeral range, new to this run."""
    rng = random.Random()
    while True:
        port = rng.choice(_TEST_PORTS)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll `predicate` until true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@dataclass
class Services:
    """Ingest, projector, the outbound sender and two edge nodes as real processes."""

    settings: StackSettings
    run_dir: Path
    ingest_port: int = field(default_factory=free_port)
    edge_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    projector_port: int = field(default_factory=free_port)
    outbound_port: int = field(default_factory=free_port)
    procs: dict[str, Managed] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # on top of ours, for every service

    def argv(self, name: str) -> list[str]:
        py = sys.executable
        if name == "ingest":
            return [py, "-m", "tidewire_ingest", "--port", str(self.ingest_port)]
        if name == "projector":
            return [py, "-m", "tidewire_projector", "--port", str(self.projector_port)]
        if name == "outbound":
            return [py, "-m", "tidewire_outbound", "--port", str(self.outbound_port)]
        port = int(name.split("-")[1])
        return [py, "-m", "tidewire_edge", "--port", str(port)]

    @property
    def names(self) -> list[str]:
        return ["ingest", "projector", "outbound", *(f"edge-{p}" for p in self.edge_ports)]

    def start(self, name: str) -> None:
        # Named by the topic prefix too: test runs of several worktrees may share one state
        # folder (and its pid files), each with a prefix of its own.
        tag = f"test-{self.settings.topic_prefix}-{name}"
        proc = Managed(tag, self.run_dir, self.run_dir / f"{tag}.out")
        argv = self.argv(name)
        proc.start(argv, " ".join(argv[2:]), env={**os.environ, **self.env})
        self.procs[name] = proc
        port = int(argv[-1])
        wait_for(lambda: healthy(port) or not proc.running(), 60, f"{name} healthy")
        assert proc.running(), f"{name} died at start-up; see {proc.log}"

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.stop(grace_s=10)

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    def edge_url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.edge_ports[index]}"


class Stack:
    """Engines for one test run: reused if running, else started and later stopped."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.started_here: list[str] = []  # engines this run started, and so stops

    def up(self) -> None:
        states = {r.name: r.state for r in infra.status(self.settings)}
        self.started_here = [name for name, state in states.items() if state == "stopped"]
        infra.up(self.settings, say=lambda line: print(f"[stack] {line}", flush=True))

    def down(self) -> None:
        if self.started_here:
            say = lambda line: print(f"[stack] {line}", flush=True)  # noqa: E731
            infra.down(self.settings, say=say, only=self.started_here)

    @property
    def run_dir(self) -> Path:
        return layout_of(self.settings.home, self.settings.lib_dir).run


@contextmanager
def own_edge(settings: StackSettings, run_dir: Path, env: dict[str, str]) -> Iterator[Managed]:
    """One more edge node, with settings of its own (`env`), for the time of a `with`; its
    `pid()` is the node's process (its memory can be read from /proc)."""
    svc = Services(settings, run_dir, env=env)
    name = f"edge-{svc.edge_ports[0]}"
    svc.start(name)
    try:
        yield svc.procs[name]
    finally:
        svc.procs[name].stop(grace_s=10)


def edge_url(proc: Managed) -> str:
    """The address of an edge started by `own_edge`."""
    return f"http://127.0.0.1:{proc.name.rsplit('-', 1)[1]}"
