"""`tidewire infra up | down | status`: the local Kafka, Cassandra and Redis.

`up` is idempotent (a running engine is reused, never twinned) and returns only when every
engine really answers; `down` stops only the processes whose pid files we wrote. Data stays in
the state folder across `down`/`up`: durable replay depends on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from tidewire_deploy.engines import Engine, engines, log_path, port_open
from tidewire_deploy.layout import Layout, layout_of
from tidewire_deploy.procs import Managed
from tidewire_platform.settings import StackSettings

READY_TIMEOUT_S = {"redis": 20.0, "kafka": 90.0, "cassandra": 240.0}


class InfraError(RuntimeError):
    """An engine could not be started or did not become ready; the message says which and why."""


@dataclass(frozen=True)
class EngineStatus:
    name: str
    address: str
    state: str  # "running" (ours) | "external" (something else answers) | "stopped"
    pid: int | None

    def line(self) -> str:
        pid = f" pid {self.pid}" if self.pid else ""
        return f"{self.name:<10} {self.address:<16} {self.state}{pid}"


def _layout(s: StackSettings) -> Layout:
    return layout_of(s.home, s.lib_dir)


def _managed(lay: Layout, name: str) -> Managed:
    return Managed(name, lay.run, log_path(lay, name))


def status(s: StackSettings) -> list[EngineStatus]:
    lay = _layout(s)
    out = []
    for eng in engines(s, lay):
        pid = _managed(lay, eng.name).pid()
        if pid is not None:
            state = "running"
        elif port_open(eng.host, eng.port):
            state = "external"
        else:
            state = "stopped"
        out.append(EngineStatus(eng.name, f"{eng.host}:{eng.port}", state, pid))
    return out


def _probe(s: StackSettings, name: str) -> bool:
    """True once the engine serves real requests (an open port is not enough for Kafka)."""
    if name == "redis":
        import redis

        try:
            return bool(redis.Redis(host=s.redis_host, port=s.redis_port, socket_timeout=1).ping())
        except redis.RedisError:
            return False
    if name == "kafka":
        return port_open(s.kafka_host, s.kafka_port) and asyncio.run(_kafka_ready(s))
    if name == "cassandra":
        return port_open(s.cassandra_host, s.cassandra_port)
    raise ValueError(name)


async def _kafka_ready(s: StackSettings) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.list_topics(), 5)
        return True
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()


def _tail(lay: Layout, name: str, lines: int = 25) -> str:
    try:
        return "\n".join(log_path(lay, name).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def up(s: StackSettings, say: Callable[[str], None] = print) -> dict[str, float]:
    """Start what is not running, wait until all answer, migrate. Returns the seconds each
    engine it started took to answer (from the command's start), and the total."""
    lay = _layout(s)
    t0 = time.monotonic()
    launched: dict[str, float] = {}  # each engine's ready timeout counts from its launch
    todo: list[tuple[Engine, Managed]] = []
    for eng in engines(s, lay):
        proc = _managed(lay, eng.name)
        if proc.running():
            say(f"{eng.name}: already running (pid {proc.pid()})")
            continue
        if port_open(eng.host, eng.port):
            say(f"{eng.name}: {eng.host}:{eng.port} already answers; using that (not ours)")
            continue
        launch = eng.prepare()  # may download jars / format storage
        pid = proc.start(launch.argv, launch.marker)
        launched[eng.name] = time.monotonic()  # after the downloads of a first start
        say(f"{eng.name}: started (pid {pid}), log {proc.log}")
        todo.append((eng, proc))
    timings: dict[str, float] = {}
    waiting = {eng.name: (eng, proc) for eng, proc in todo}
    if waiting:  # Cassandra's first start takes a minute or more: say so before going quiet
        say(f"waiting for {', '.join(waiting)} to answer (Cassandra can take a minute)…")
    while waiting:
        for name, (_eng, proc) in list(waiting.items()):
            if not proc.running():
                raise InfraError(
                    f"{name} exited during start-up. Last log lines:\n{_tail(lay, name)}"
                )
            if _probe(s, name):
                timings[name] = round(time.monotonic() - t0, 1)
                say(f"{name}: ready after {timings[name]} s")
                del waiting[name]
            elif time.monotonic() - launched[name] > READY_TIMEOUT_S[name]:
                raise InfraError(
                    f"{name} not ready after {READY_TIMEOUT_S[name]} s. "
                    f"Last log lines:\n{_tail(lay, name)}"
                )
        if waiting:
            time.sleep(0.25)
    from tidewire_deploy.migrate import migrate

    say("migrate: topics and schema…")
    created, applied = migrate(s)
    say(f"migrate: topics created {created or 'none'}, migrations applied {applied or 'none'}")
    timings["total"] = round(time.monotonic() - t0, 1)
    return timings


def down(
    s: StackSettings, say: Callable[[str], None] = print, only: Collection[str] | None = None
) -> None:
    """Stop the engines we started (or those of them named in `only`), in reverse order
    (clients before the stores they use)."""
    lay = _layout(s)
    for eng in reversed(engines(s, lay)):
        if only is not None and eng.name not in only:
            continue
        if _managed(lay, eng.name).stop(grace_s=60.0):
            say(f"{eng.name}: stopped")
