"""The official socket.io-client (npm), driven from pytest through tests/js/client.mjs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parents[1] / "js"

Happening = dict[str, Any]


class JsClient:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self.seen: list[Happening] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, **options: Any) -> JsClient:
        """The official socket.io-client (client.mjs) connecting to `url`."""
        return await cls.run("client.mjs", url, json.dumps(options))

    @classmethod
    async def run(cls, script: str, *argv: str) -> JsClient:
        """A driver script of tests/js speaking JSON lines."""
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(JS_DIR / script),
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=JS_DIR,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self._proc.stdout is not None
        async for line in self._proc.stdout:
            async with self._changed:
                self.seen.append(json.loads(line))
                self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Happening], bool], within: float = 20, what: str = "a happening"
    ) -> Happening:
        """The first happening (seen so far or later) matching `predicate`."""

        async def _find() -> Happening:
            async with self._changed:
                while True:
                    for item in self.seen:
                        if predicate(item):
                            return item
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(_find(), within)
        except TimeoutError:
            raise AssertionError(
                f"node client: no {what} within {within} s; saw {self.seen}"
            ) from None

    def connects(self) -> list[Happening]:
        return [h for h in self.seen if h["kind"] == "connect"]

    async def nth_connect(self, n: int, within: float = 20) -> Happening:
        """The `n`-th connect (1-based), once it happened."""
        await self.wait_for(lambda _: len(self.connects()) >= n, within, f"connect #{n}")
        return self.connects()[n - 1]

    def bodies(self, name: str) -> list[str]:
        """Message bodies of the appMessage events `name` received, in arrival order."""
        return [args[0]["message"]["body"] for args in self.events(name)]

    def events(self, name: str) -> list[list[Any]]:
        return [h["args"] for h in self.seen if h["kind"] == "event" and h["name"] == name]

    async def send(self, op: str, **fields: Any) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
        await self._proc.stdin.drain()

    async def close(self) -> None:
        if self._proc.returncode is None:
            try:
                await self.send("exit")
                await asyncio.wait_for(self._proc.wait(), 5)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                self._proc.kill()
                await self._proc.wait()
        self._reader.cancel()
