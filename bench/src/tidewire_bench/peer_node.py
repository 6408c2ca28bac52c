"""The reference deployment of `tidewire bench peer`, set up and torn down by the bench itself,
and the helpdesk backend that publishes to either system.

What a team would run instead of tidewire's edges: Node.js Socket.IO 4.8 with connection state
recovery and `@socket.io/redis-streams-adapter`, two nodes and a publisher (bench/peer-node/,
installed from npm by `npm ci` here, never committed). It gets a redis-server of its own on a
free port, so its broker CPU is its own and nothing it does touches the shared Redis. The same
publisher script publishes to tidewire with `@tidewire/emitter` (sdk/emitter, linked).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tidewire_bench.edge_clients import NodeClients
from tidewire_bench.publish_results import Publisher
from tidewire_bench.runs import free_port
from tidewire_deploy.prereqs import MissingPrerequisite, redis_server

PEER_DIR = Path(__file__).resolve().parents[2] / "peer-node"
_START_S = 60.0  # a node's start on a busy two-core box


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise MissingPrerequisite("node not found: apt-get install nodejs npm")
    return node


def node_command(node: str, redis_url: str, secret: str) -> tuple[list[str], dict[str, str]]:
    """One peer node's command line and environment: the JWT key goes in the environment, as
    a command line is readable by every user of the machine (`ps`)."""
    argv = [node, "server.mjs", "--port", "0", "--redis", redis_url]
    return argv, {**os.environ, "PEER_JWT_SECRET": secret}


def install(say: Callable[[str], None] = print) -> None:
    """`npm ci` in bench/peer-node when its modules are missing or older than its lock file
    (npm writes node_modules/.package-lock.json on every install)."""
    lock = PEER_DIR / "package-lock.json"
    installed = PEER_DIR / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise MissingPrerequisite("npm not found: apt-get install nodejs npm")
    say("installing the Node.js peer: npm ci in bench/peer-node")
    # No install scripts: none of its packages needs one, and the linked @tidewire/emitter's
    # `prepare` builds type declarations with a TypeScript this folder does not install.
    done = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PEER_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm ci in {PEER_DIR} failed: {done.stderr.strip()[-500:]}")


async def _first_line(proc: asyncio.subprocess.Process, what: str, log: Path) -> dict[str, object]:
    """The process's first stdout line as JSON: its sign of readiness."""
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), _START_S)
    except TimeoutError:
        line = b""
    if not line:
        raise RuntimeError(f"{what} did not start; see {log}")
    reply: dict[str, object] = json.loads(line)
    return reply


async def _redis_up(port: int, proc: asyncio.subprocess.Process, log: Path) -> None:
    """Poll until the fresh redis-server accepts connections."""
    deadline = time.monotonic() + _START_S
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            break
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the peer's redis-server did not start; see {log}")


class NodePublisher:
    """A helpdesk backend emitting to company rooms (bench/peer-node/publisher.mjs): through
    Socket.IO's Redis Streams adapter (`--redis URL`) or @tidewire/emitter (`--tidewire URL
    --token T`)."""

    def __init__(self, proc: NodeClients) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, args: Sequence[str], log: Path) -> NodePublisher:
        await asyncio.to_thread(install)
        proc = await NodeClients.spawn([_node(), "publisher.mjs", *args], PEER_DIR, log)
        try:
            await proc.call("ping", "ready", _START_S)  # answered once it is connected
        except BaseException:
            await proc.close()
            raise
        return cls(proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def publish(
        self, event: str, phase: str, rate: float, seconds: float, companies: Sequence[str]
    ) -> Publisher:
        """Emit to the companies in turn at `rate` for `seconds` (open loop); what the
        backend saw accepted (every Socket.IO emit; the tidewire emits not given up)."""
        reply = await self.proc.call(
            "publish",
            "published",
            seconds + 180.0,  # the emitter retries for up to a minute
            event=event,
            phase=phase,
            rate=rate,
            seconds=seconds,
            companies=list(companies),
        )
        out = Publisher(sent=int(reply["sent"]), requests=int(reply["sent"]))
        out.accepted = {str(c): [int(n) for n in ns] for c, ns in reply["accepted"].items()}
        out.failures.update({str(k): int(v) for k, v in reply["failures"].items()})
        if reply["first"] is not None:
            out.first_send = float(reply["first"])
            out.last_answer = float(reply["last"])
        return out

    async def close(self) -> None:
        await self.proc.close()


@dataclass
class NodePeer:
    """The running reference deployment: its own Redis, its nodes and its publisher."""

    logs: Path
    redis: asyncio.subprocess.Process | None = None
    nodes: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)  # port -> node
    publisher: NodePublisher | None = None
    _data: tempfile.TemporaryDirectory[str] | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    @classmethod
    async def start(cls, secret: str, logs: Path, nodes: int = 2) -> NodePeer:
        """Install (if needed) and start everything; on any failure, stop what started."""
        await asyncio.to_thread(install)
        peer = cls(logs)
        try:
            await peer._start(secret, nodes)
        except BaseException:
            await peer.close()
            raise
        return peer

    def _log(self, name: str) -> tuple[Path, IO[bytes]]:
        path = self.logs / f"bench-peer-{name}.out"
        handle = path.open("ab")
        self._logs.append(handle)
        return path, handle

    async def _start(self, secret: str, nodes: int) -> None:
        port = free_port()
        self._data = tempfile.TemporaryDirectory(prefix="tidewire-peer-redis-")
        path, log = self._log("redis")
        # No persistence: the stream and the sessions live in memory, as the adapter needs.
        self.redis = await asyncio.create_subprocess_exec(
            redis_server(),
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", self._data.name),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            stdout=log,
            stderr=log,
        )
        await _redis_up(port, self.redis, path)
        url = f"redis://127.0.0.1:{port}"
        node = _node()
        for i in range(nodes):
            path, log = self._log(f"node-{i}")
            argv, env = node_command(node, url, secret)
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=log, cwd=PEER_DIR, env=env
            )
            ready = await _first_line(proc, f"peer node {i}", path)
            self.nodes[int(str(ready["port"]))] = proc
        self.publisher = await NodePublisher.start(
            ["--redis", url], self.logs / "bench-peer-publisher.out"
        )

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.nodes]

    def processes(self) -> dict[str, tuple[int, str]]:
        """Measured processes: name -> (pid, role)."""
        out: dict[str, tuple[int, str]] = {}
        for port, proc in self.nodes.items():
            out[f"node-{port}"] = (proc.pid, "node")
        if self.publisher is not None:
            out["publisher"] = (self.publisher.pid, "publish")
        if self.redis is not None:
            out["redis (own)"] = (self.redis.pid, "broker")
        return out

    async def close(self) -> None:
        """Stop the publisher, the nodes and the Redis (SIGTERM, then SIGKILL)."""
        if self.publisher is not None:
            await self.publisher.close()
        procs = [*self.nodes.values(), *([self.redis] if self.redis else [])]
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for handle in self._logs:
            handle.close()
        if self._data is not None:
            self._data.cleanup()
