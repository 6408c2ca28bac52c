"""The services a benchmark starts for itself: ingest, projector, outbound and two edges.

They run against the engines already running (`tidewire infra up`), on free ports, on topics,
a consumer group and a keyspace of their own (the configured prefix and keyspace with a
suffix), so a `tidewire up` or a test run beside them is neither measured nor disturbed; the
settings a benchmark needs (many connects from one address) are set for these processes only.
The engines' pids come from their pid files: their CPU is part of what a message costs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from tidewire_bench import runs
from tidewire_bench.runs import free_port, healthy
from tidewire_deploy import infra
from tidewire_deploy.layout import layout_of
from tidewire_deploy.migrate import migrate
from tidewire_deploy.procs import Managed
from tidewire_platform.settings import StackSettings


def isolated(s: StackSettings, suffix: str) -> StackSettings:
    """`s` on topics, groups and a keyspace of their own, named after the configured ones."""
    return s.model_copy(
        update={
            "topic_prefix": f"{s.topic_prefix}-{suffix}",
            "cassandra_keyspace": f"{s.cassandra_keyspace}_{suffix}",
        }
    )


@dataclass(frozen=True)
class _Service:
    name: str
    module: str
    port: int
    probe: str  # answers 200 once the service is ready


@dataclass
class OwnStack:
    """Services started by a benchmark (`migrate`, then `start`), stopped by it (`stop`)."""

    settings: StackSettings
    tag: str  # names the pid and log files: "bench-tidewire-e2e" -> bench-tidewire-e2e-ingest.pid
    env: Mapping[str, str] = field(default_factory=dict)  # on top of the settings'
    ingest_port: int = field(default_factory=free_port)
    projector_port: int = field(default_factory=free_port)
    outbound_port: int = field(default_factory=free_port)
    edge_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    procs: dict[str, Managed] = field(default_factory=dict)

    @classmethod
    def beside(cls, s: StackSettings, suffix: str, env: Mapping[str, str]) -> OwnStack:
        """A benchmark's own stack next to the one `s` configures: topics and keyspace
        `isolated(s, suffix)`, pid and log files named after those topics. Stacks sharing a
        state folder (several test runs, each with a topic prefix of its own) then never
        share a pid file: with one, a second run would take the first's live ingest for its
        own, wait for it on another port and stop it on giving up."""
        own = isolated(s, suffix)
        return cls(own, f"bench-{own.topic_prefix}", env)

    @property
    def services(self) -> list[_Service]:
        return [
            _Service("ingest", "tidewire_ingest", self.ingest_port, "/healthz"),
            _Service("projector", "tidewire_projector", self.projector_port, "/readyz"),
            _Service("outbound", "tidewire_outbound", self.outbound_port, "/readyz"),
            *(_Service(f"edge-{p}", "tidewire_edge", p, "/healthz") for p in self.edge_ports),
        ]

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    @property
    def edge_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.edge_ports]

    def _environment(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "TIDEWIRE_HOME": str(s.home),
            "TIDEWIRE_TOPIC_PREFIX": s.topic_prefix,
            "TIDEWIRE_CASSANDRA_KEYSPACE": s.cassandra_keyspace,
            **self.env,
        }

    def migrate(self) -> None:
        """Topics and schema (idempotent); before `start`, and before any tenant is written."""
        migrate(self.settings)

    def start(self, timeout_s: float = 120.0) -> None:
        """Every service, each until it is ready; those started are stopped on a failure."""
        try:
            self._start(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout_s: float) -> None:
        lay = layout_of(self.settings.home, self.settings.lib_dir)
        env = self._environment()
        for svc in self.services:
            name = f"{self.tag}-{svc.name}"
            proc = Managed(name, lay.run, lay.logs / f"{name}.out")
            argv = [sys.executable, "-m", svc.module, "--port", str(svc.port)]
            proc.start(argv, " ".join(argv[2:]), env=env)
            self.procs[svc.name] = proc
        deadline = time.monotonic() + timeout_s
        for svc in self.services:
            proc = self.procs[svc.name]
            while not healthy(f"http://127.0.0.1:{svc.port}", svc.probe):
                if not proc.running():
                    raise RuntimeError(f"{svc.name} exited during start-up; see {proc.log}")
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{svc.name} not ready after {timeout_s:g} s; see {proc.log}"
                    )
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop(grace_s=10)

    def pids(self) -> dict[str, int]:
        """Every process a message passes through: these services and the engines, found by
        the state folder's pid files or, for an engine another folder started, by the port it
        listens on (one found by neither is left out; the report says which were measured)."""
        pids = {name: pid for name, proc in self.procs.items() if (pid := proc.pid()) is not None}
        for engine in infra.status(self.settings):
            port = int(engine.address.rsplit(":", 1)[1])
            if (pid := engine.pid or runs.listener_pid(port)) is not None:
                pids[engine.name] = pid
        return pids
