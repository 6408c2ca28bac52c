"""The Python end of bench/js/clients.mjs: node processes holding many socket.io-clients.

One JSON line per command on the process's stdin, one JSON line per answer on its stdout (the
protocol is described at the top of the script). A fleet spreads clients over several node
processes and sends each command to all of them at once, so a single node process's CPU does
not cap what the edge is measured at.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tidewire_deploy.prereqs import MissingPrerequisite

JS_DIR = Path(__file__).resolve().parents[2] / "js"
SCRIPT = JS_DIR / "clients.mjs"
_LINE_LIMIT = 64 * 1024 * 1024  # a `collect` answer lists every client


@dataclass(frozen=True)
class Connected:
    """Clients connected, by company; how many failed, and the first few reasons."""

    per_company: Counter[str]
    failed: int
    errors: list[str]

    @property
    def ok(self) -> int:
        return sum(self.per_company.values())


@dataclass(frozen=True)
class ClientSpec:
    url: str
    token: str
    company: str


def _append_to(path: Path) -> IO[bytes]:
    """The node process's stderr (a local file; closed by `NodeClients.close`)."""
    return path.open("ab")


class NodeClients:
    """One node process running clients.mjs."""

    def __init__(self, proc: asyncio.subprocess.Process, log: IO[bytes]) -> None:
        self._proc = proc
        self._log = log

    @classmethod
    async def start(cls, log_path: Path) -> NodeClients:
        node = shutil.which("node")
        if node is None:
            raise MissingPrerequisite("node not found: apt-get install nodejs npm")
        if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
            raise MissingPrerequisite(
                "socket.io-client missing: npm ci --prefix bench/js (or make install)"
            )
        return await cls.spawn([node, str(SCRIPT)], JS_DIR, log_path)

    @classmethod
    async def spawn(cls, argv: Sequence[str], cwd: Path, log_path: Path) -> NodeClients:
        """Any process speaking this JSON-lines protocol (`bench peer` drives its Node.js
        publisher so); its stderr appended to `log_path`."""
        log = _append_to(log_path)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            cwd=cwd,
            limit=_LINE_LIMIT,
        )
        return cls(proc, log)

    @property
    def pid(self) -> int:
        """The node process (a benchmark reports the CPU it used)."""
        return self._proc.pid

    async def call(self, op: str, answer: str, wait_s: float = 120.0, **fields: Any) -> Any:
        """Send one command and return the answer of kind `answer` (None for no answer)."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
        await self._proc.stdin.drain()
        if not answer:
            return None
        while True:
            line = await asyncio.wait_for(self._proc.stdout.readline(), wait_s)
            if not line:
                raise RuntimeError(f"bench client process exited; see {self._log.name}")
            reply = json.loads(line)
            if reply.get("kind") == answer:
                return reply

    async def close(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(OSError, RuntimeError):
                await self.call("exit", "")
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        self._log.close()


class Fleet:
    """Several node processes acting as one set of clients."""

    def __init__(self, members: list[NodeClients]) -> None:
        self.members = members

    @classmethod
    async def start(cls, processes: int, log_path: Path) -> Fleet:
        fleet = cls([])
        try:
            for _ in range(processes):
                fleet.members.append(await NodeClients.start(log_path))
        except BaseException:
            await fleet.close()
            raise
        return fleet

    async def call(self, op: str, answer: str, wait_s: float = 120.0, **fields: Any) -> list[Any]:
        """The same command to every process; their answers in process order."""
        return list(
            await asyncio.gather(*(m.call(op, answer, wait_s, **fields) for m in self.members))
        )

    async def connect(
        self, specs: Sequence[ClientSpec], options: dict[str, Any], wait_s: float = 300.0
    ) -> Connected:
        """Connect `specs`, dealt round-robin over the processes."""
        shares = [list(specs[i :: len(self.members)]) for i in range(len(self.members))]
        answers = await asyncio.gather(
            *(
                m.call(
                    "connect",
                    "connected",
                    wait_s,
                    clients=[vars(spec) for spec in share],
                    options=options,
                )
                for m, share in zip(self.members, shares, strict=True)
            )
        )
        per_company: Counter[str] = Counter()
        for a in answers:
            per_company.update({str(k): int(v) for k, v in a["companies"].items()})
        return Connected(
            per_company,
            sum(int(a["failed"]) for a in answers),
            [str(e) for a in answers for e in a["errors"]],
        )

    async def close(self) -> None:
        await asyncio.gather(*(m.close() for m in self.members), return_exceptions=True)
