"""A TCP proxy the test can point at another backend: a load balancer switching nodes."""

from __future__ import annotations

import asyncio
import contextlib


class SwitchingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> SwitchingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def switch(self, target_port: int, cut: bool = True) -> None:
        """New connections go to `target_port`; open ones are cut (the client sees a drop),
        or with `cut=False` left to end on their own (a load balancer draining a node)."""
        self.target_port = target_port
        if not cut:
            return
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links -= {writer, up_writer}

    async def close(self) -> None:
        await self.switch(self.target_port)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
