"""A TCP balancer for `tidewire bench edge`'s kill phase: the load balancer in front of edges.

`python -m tidewire_bench.balancer --listen N --backends P,Q,R`: each new connection
goes to the first backend while it accepts connections, otherwise to the others in turn — as
a cloud balancer behaves once its health check marks a node dead. So clients all start on the
node the bench kills, and their reconnects after the kill spread over the surviving nodes.
It runs as a process of its own, so the bench's event producer does not slow its relaying.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib


class Balancer:
    def __init__(self, backends: list[int]) -> None:
        self._primary, self._others = backends[0], backends[1:]
        self._turn = 0

    def candidates(self) -> list[int]:
        """The primary, then the others starting one further on each time."""
        i = self._turn
        self._turn = (i + 1) % max(1, len(self._others))
        return [self._primary, *self._others[i:], *self._others[:i]]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for port in self.candidates():
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # refused: that node is down
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def serve(listen: int, backends: list[int]) -> None:
    server = await asyncio.start_server(
        Balancer(backends).handle, "127.0.0.1", listen, backlog=4096
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(prog="tidewire_bench.balancer")
    p.add_argument("--listen", type=int, required=True)
    p.add_argument(
        "--backends", required=True, help="ports: the first while it is up, then the rest"
    )
    args = p.parse_args()
    backends = [int(port) for port in args.backends.split(",") if port]
    try:
        import uvloop

        uvloop.run(serve(args.listen, backends))
    except ImportError:
        asyncio.run(serve(args.listen, backends))


if __name__ == "__main__":
    main()
