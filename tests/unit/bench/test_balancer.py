"""The bench's balancer: the node under test first, then the others in turn."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvloop

from tidewire_bench.balancer import Balancer, serve

pytestmark = pytest.mark.unit


def test_the_primary_comes_first_and_the_others_take_turns() -> None:
    b = Balancer([9000, 8101, 8102, 8103])
    tries = [b.candidates() for _ in range(4)]
    assert [t[0] for t in tries] == [9000] * 4
    assert [t[1] for t in tries] == [8101, 8102, 8103, 8101]
    assert all(sorted(t[1:]) == [8101, 8102, 8103] for t in tries)


def test_a_single_backend_is_always_the_one() -> None:
    b = Balancer([9000])
    assert [b.candidates() for _ in range(2)] == [[9000], [9000]]


async def test_relays_to_the_next_backend_while_the_first_is_down() -> None:
    await _relay_through_a_dead_primary()


def test_relays_the_same_on_uvloop_as_the_balancer_runs() -> None:
    uvloop.run(_relay_through_a_dead_primary())


async def _relay_through_a_dead_primary() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"from backend: " + await reader.readexactly(5))
        await writer.drain()
        writer.close()

    backend = await asyncio.start_server(echo, "127.0.0.1", 0)
    dead, front = _free_port(), _free_port()
    up = backend.sockets[0].getsockname()[1]
    balancer = asyncio.create_task(serve(front, [dead, up]))
    try:
        reader, writer = await _connect_when_listening(front)
        writer.write(b"hello")
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer == b"from backend: hello"  # and closed after it
        writer.close()
    finally:
        balancer.cancel()
        backend.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _connect_when_listening(
    port: int, within_s: float = 5.0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.01)
