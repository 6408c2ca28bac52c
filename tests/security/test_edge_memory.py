"""An edge node's memory stays within its bound while one tenant floods it with large events.

The attacker is a tenant posting its largest messages as fast as ingest takes them. Each
becomes events of tens of kilobytes (the body, and the ticket's last message, in every
`message.created`), which every edge following the tenant's partition remembers, decodes,
encodes for sockets and queues. Bounded by counts (20,000 records, 8,192 decoded events,
4,096 packets, 2,000 queued per socket), that was gigabytes; bounded in bytes, the node stays
under the memory it is given. Measured as the peak resident set of the node's process
(VmHWM in /proc/<pid>/status), while one of the tenant's sockets takes everything in.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.support.api import Api
from tests.support.stack import Stack, edge_url, own_edge
from tidewire_deploy.procs import Managed

pytestmark = pytest.mark.security

MESSAGES = 2000
BOUND = 256 * 1024**2  # the node's memory (TIDEWIRE_EDGE_MEMORY_BYTES), a quarter of the chart's
# The largest agent message ingest takes, most bytes first: 4,096 characters of four bytes
# (or of three, where characters are counted as UTF-16 units, or of one).
CANDIDATES = ["\U0001f600" * 4096, "\u5b57" * 4096, "a" * 4096]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.fixture
def bounded_edge(stack: Stack, api: Api) -> Iterator[Managed]:
    with own_edge(stack.settings, stack.run_dir, {"TIDEWIRE_EDGE_MEMORY_BYTES": str(BOUND)}) as p:
        yield p


def _send(http: httpx.Client, ticket: str, body: str) -> httpx.Response:
    return http.post(
        f"/api/tickets/{ticket}/messages",
        json={"client_message_id": uuid.uuid4().hex, "body": body},
    )


def _largest_accepted(http: httpx.Client, ticket: str) -> str:
    for body in CANDIDATES:
        resp = _send(http, ticket, body)
        if resp.status_code == 202:
            return body
        assert resp.status_code == 422, resp.text
    raise AssertionError("ingest took none of the candidate bodies")


class _Inbox:
    """A socket of the tenant that takes in everything. A node cuts off a socket that falls
    behind its byte budget (closing the transport, which python-socketio does not reconnect
    after): then it connects again and replays from the last event it got, as the SDK does."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.last: str | None = None
        self.bodies: set[str] = set()
        self.created = 0
        self.connects = 0

    def _got(self, event: str, *args: Any) -> None:
        if args and isinstance(args[-1], str):
            self.last = args[-1]
        body = args[0] if args else None
        if isinstance(body, dict) and body.get("action") == "create":
            self.created += 1
            self.bodies.add(str((body.get("message") or {}).get("body", ""))[:40])

    async def connect(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("*", self._got)
        auth = {"token": self.token, **({"lastEventId": self.last} if self.last else {})}
        await self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=10)
        self.connects += 1

    async def stay_connected(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            if not self.sio.connected:
                await self.connect()


@pytest.mark.timeout(900)  # 2,000 large messages through ingest, projector and Cassandra
async def test_an_edge_stays_under_its_memory_bound_while_a_tenant_floods_it(
    bounded_edge: Managed, api: Api, agent_token: str
) -> None:
    pid = bounded_edge.pid()
    assert pid is not None
    ticket = await asyncio.to_thread(api.open_ticket)
    inbox = _Inbox(edge_url(bounded_edge), agent_token)
    await inbox.connect()
    watch = asyncio.create_task(inbox.stay_connected())
    try:
        body = await asyncio.to_thread(_largest_accepted, api.http, ticket)

        def flood(count: int) -> None:
            with httpx.Client(
                base_url=str(api.http.base_url), headers=dict(api.http.headers), timeout=30
            ) as http:
                for _ in range(count):
                    resp = _send(http, ticket, body)
                    assert resp.status_code == 202, resp.text

        with ThreadPoolExecutor(8) as pool:
            jobs = [pool.submit(flood, MESSAGES // 8) for _ in range(8)]
            await asyncio.gather(*[asyncio.wrap_future(j) for j in jobs])
        marker = f"marker-{uuid.uuid4().hex}"
        await asyncio.to_thread(_send, api.http, ticket, marker)
        # Commands of a ticket are projected in order, so the marker comes last.
        async with asyncio.timeout(600):
            while marker not in inbox.bodies:
                await asyncio.sleep(0.2)
                assert bounded_edge.running(), "the edge died"
                assert not watch.done(), "the inbox could not connect again"
        peak = _status_kib(pid, "VmHWM") * 1024
        print(
            f"edge peak {peak / 2**20:.0f} MiB, now {_status_kib(pid, 'VmRSS') / 1024:.0f} MiB,"
            f" {inbox.connects} connects of the inbox"
        )
    finally:
        watch.cancel()
        await inbox.sio.disconnect()
    assert inbox.created >= MESSAGES + 2  # the opening message, the flood, the marker
    assert peak < BOUND, f"peak resident memory {peak / 2**20:.0f} MiB"
