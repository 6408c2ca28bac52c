"""Gateway mode on a real edge, driven by python-socketio: the family's handshake, `ready`,
connect-time rooms, joins, and publications routed by namespace, rooms and `except`, never to
another company. (tests/e2e/test_gateway.py drives the families' own socket.io-client
versions through nginx.)"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
import socketio
from aiohttp import web

from tests.support.stack import Services, Stack
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_publisher_token

SECRET = "helpdesk-secret-for-tests-0123456789"


def _gateway_edge(services: Services, stack: Stack, env: dict[str, str]) -> Iterator[str]:
    node = Services(services.settings, stack.run_dir, env=env)
    node.start(f"edge-{node.edge_ports[0]}")
    try:
        yield node.edge_url(0)
    finally:
        node.stop_all()


@pytest.fixture(scope="module")
def ticketz_edge(services: Services, stack: Stack) -> Iterator[str]:
    yield from _gateway_edge(
        services, stack, {"TIDEWIRE_GATEWAY": "ticketz", "TIDEWIRE_GATEWAY_JWT_SECRET": SECRET}
    )


@pytest.fixture(scope="module")
def plus_edge(services: Services, stack: Stack) -> Iterator[str]:
    yield from _gateway_edge(
        services, stack, {"TIDEWIRE_GATEWAY": "plus", "TIDEWIRE_GATEWAY_JWT_SECRET": SECRET}
    )


def _jwt(**claims: Any) -> str:
    return jwt.encode({"exp": int(time.time()) + 900, **claims}, SECRET, algorithm="HS256")


class Client:
    """A python-socketio client that records every event and its arguments."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        self.refused: Any = None
        self.sio.on("*", self._any)
        self.sio.on("connect_error", self._refused)

    async def _any(self, event: str, *args: Any) -> None:
        self.seen.append((event, args))

    async def _refused(self, data: Any = None) -> None:
        self.refused = data

    def events(self, name: str) -> list[tuple[Any, ...]]:
        return [args for event, args in self.seen if event == name]

    async def until(self, probe: Any, what: str, within: float = 20) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            got = probe()
            if got:
                return got
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; seen {self.seen!r}")


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        await c.sio.disconnect()


# python-socketio's client gives a connect 1 s by default, then reports "Unexpected connection
# error"; socket.io-client waits 20 s. A busy box (the whole suite on two cores) can take
# longer than 1 s to answer a connect that is not refused.
CONNECT_S = 10


async def _connect(made: list[Client], url: str, query: str, namespace: str = "/") -> Client:
    c = Client()
    made.append(c)
    if namespace != "/":
        c.sio.on("*", c._any, namespace=namespace)
    await c.sio.connect(
        f"{url}?{query}", namespaces=[namespace], transports=["websocket"], wait_timeout=CONNECT_S
    )
    return c


async def _publish(ingest: str, settings: StackSettings, *publications: dict[str, Any]) -> None:
    token = issue_publisher_token(settings, "test-backend")
    async with httpx.AsyncClient(base_url=ingest, timeout=15) as http:
        answer = await http.post(
            "/api/publish",
            json={"publications": [{"id": uuid.uuid4().hex, **p} for p in publications]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 202, answer.text


def _company() -> str:
    return str(uuid.uuid4().int % 10**9)


async def test_ticketz_gets_ready_its_rooms_and_only_what_its_rooms_get(
    ticketz_edge: str, services: Services, settings: StackSettings, clients: list[Client]
) -> None:
    c, other = _company(), _company()
    admin = await _connect(
        clients, ticketz_edge, f"token={_jwt(id=3, companyId=int(c), profile='admin')}"
    )
    agent = await _connect(
        clients, ticketz_edge, f"token={_jwt(id=4, companyId=int(c), profile='user')}&r=1"
    )
    stranger = await _connect(
        clients, ticketz_edge, f"token={_jwt(id=3, companyId=int(other), profile='admin')}"
    )
    for client in (admin, agent, stranger):
        await client.until(lambda cl=client: cl.events("ready"), "ready")
    assert await admin.sio.call("joinTickets", "open") == {
        "ok": True,
        "rooms": [f"company-{c}-mainchannel", "user-3", f"company-{c}-admin", f"company-{c}-open"],
    }
    refused = await agent.sio.call("joinTickets", "open")
    assert refused["ok"] is False
    assert "only admins" in refused["error"]
    await admin.sio.call("joinChatBox", "77")
    await _publish(
        services.ingest_url,
        settings,
        {
            "company_id": c,
            "rooms": [f"company-{c}-open"],
            "event": f"company-{c}-ticket",
            "data": {"action": "removeFromList", "ticketId": 77},
        },
        {
            "company_id": c,
            "rooms": ["77"],
            "event": f"company-{c}-appMessage",
            "data": {"action": "create", "message": {"id": "w1", "body": "oi"}},
        },
        {
            "company_id": c,
            "rooms": [f"company-{c}-mainchannel"],
            "except": ["user-3"],
            "event": f"company-{c}-contact",
            "data": {"action": "update"},
        },
        {
            "company_id": other,
            "rooms": [],
            "event": f"company-{other}-ticket",
            "data": {"action": "update"},
        },
        # Whatever a publisher puts in `data` (an unhashable `action` here) goes through.
        {"company_id": c, "rooms": [], "event": "odd", "data": {"action": ["x"]}},
        {"company_id": c, "rooms": [], "event": "done", "data": 1},
    )
    for client in (admin, agent):
        await client.until(lambda cl=client: cl.events("done"), "the last publication")
    await stranger.until(lambda: stranger.events(f"company-{other}-ticket"), "the other company's")
    got = [(e, a[0]) for e, a in admin.seen if e != "ready"]
    assert got == [
        (f"company-{c}-ticket", {"action": "removeFromList", "ticketId": 77}),
        (f"company-{c}-appMessage", {"action": "create", "message": {"id": "w1", "body": "oi"}}),
        ("odd", {"action": ["x"]}),
        ("done", 1),
    ]
    assert all(isinstance(a[-1], str) for e, a in admin.seen if e != "ready")  # the cursor
    assert [e for e, _ in agent.seen] == ["ready", f"company-{c}-contact", "odd", "done"]
    assert [e for e, _ in stranger.seen] == ["ready", f"company-{other}-ticket"]


async def test_plus_connects_on_its_company_namespace_only(
    plus_edge: str, services: Services, settings: StackSettings, clients: list[Client]
) -> None:
    c = _company()
    token = _jwt(id=9, companyId=int(c), profile="user")
    client = await _connect(clients, plus_edge, f"userId=9&token=Bearer%20{token}", f"/{c}")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await _connect(clients, plus_edge, f"userId=9&token=Bearer%20{token}", f"/{_company()}")
    root = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await root.sio.connect(
            f"{plus_edge}?token=Bearer%20{token}", transports=["websocket"], wait_timeout=CONNECT_S
        )
    await _publish(
        services.ingest_url,
        settings,
        {"company_id": c, "namespace": "/", "event": "root-only", "data": 0},
        {
            "company_id": c,
            "namespace": f"/{c}",
            "event": f"company-{c}-ticket",
            "data": {"action": "update"},
        },
    )
    await client.until(lambda: client.events(f"company-{c}-ticket"), "the namespace's publication")
    assert [e for e, _ in client.seen] == [f"company-{c}-ticket"]
    assert client.events(f"company-{c}-ticket")[0][0] == {"action": "update"}


async def test_a_forged_or_foreign_token_is_refused_with_its_reason(
    ticketz_edge: str, clients: list[Client]
) -> None:
    forged = jwt.encode({"id": 1, "companyId": 5, "exp": int(time.time()) + 60}, "x" * 32, "HS256")
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(
            f"{ticketz_edge}?token={forged}", transports=["websocket"], wait_timeout=CONNECT_S
        )
    assert "invalid token" in str(client.refused)


class Helpdesk:
    """A stand-in of the helpdesk backend's proxy endpoints (outside tidewire's reach): it
    records what the edge asks and answers what the test set."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []
        self.connect_answer: tuple[int, dict[str, Any]] = (403, {"reason": "unset"})
        self.join_answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/connect", self._connect)
        app.router.add_post("/join", self._join)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _connect(self, request: web.Request) -> web.Response:
        self.asked.append({"connect": await request.json()})
        status, body = self.connect_answer
        return web.json_response(body, status=status)

    async def _join(self, request: web.Request) -> web.Response:
        asked = await request.json()
        self.asked.append({"join": asked})
        status, body = self.join_answers.get(asked["event"], (403, {"reason": "no"}))
        return web.json_response(body, status=status)


@pytest.fixture
async def helpdesk() -> AsyncIterator[Helpdesk]:
    desk = Helpdesk()
    await desk.start()
    yield desk
    await desk.stop()


async def test_the_helpdesk_decides_connects_and_joins_through_its_proxies(
    services: Services,
    stack: Stack,
    settings: StackSettings,
    helpdesk: Helpdesk,
    clients: list[Client],
) -> None:
    env = {
        "TIDEWIRE_GATEWAY": "ticketz",
        "TIDEWIRE_GATEWAY_CONNECT_PROXY_URL": f"http://127.0.0.1:{helpdesk.port}/connect",
        "TIDEWIRE_GATEWAY_JOIN_PROXY_URL": f"http://127.0.0.1:{helpdesk.port}/join",
    }
    edges = _gateway_edge(services, stack, env)
    url = next(edges)
    try:
        c, other = _company(), _company()
        helpdesk.connect_answer = (
            200,
            {
                "company_id": c,
                "user_id": "4",
                "profile": "user",
                "rooms": [f"company-{c}-mainchannel"],
            },
        )
        helpdesk.join_answers = {
            # A proxy naming another company's room: the socket is in a room of that name,
            # and still only ever gets its own company's publications.
            "joinTickets": (200, {"join": ["queue-7-pending", f"company-{other}-open"]}),
            "joinChatBox": (403, {"reason": "not your ticket"}),
        }
        client = await _connect(clients, url, "token=opaque-session-cookie")
        await client.until(lambda: client.events("ready"), "ready")
        assert helpdesk.asked[0]["connect"]["token"] == "opaque-session-cookie"
        joined = await client.sio.call("joinTickets", "pending")
        assert joined["ok"] is True
        refused = await client.sio.call("joinChatBox", "12")
        assert refused == {"ok": False, "error": "not your ticket"}
        await _publish(
            services.ingest_url,
            settings,
            {"company_id": other, "rooms": [f"company-{other}-open"], "event": "theirs", "data": 0},
            {"company_id": c, "rooms": ["12"], "event": "refused-room", "data": 0},
            {"company_id": c, "rooms": ["queue-7-pending"], "event": "queue", "data": 1},
            {"company_id": c, "rooms": [f"company-{c}-mainchannel"], "event": "main", "data": 2},
        )
        await client.until(lambda: client.events("main"), "the last publication")
        assert [e for e, _ in client.seen] == ["ready", "queue", "main"]
        helpdesk.connect_answer = (403, {"reason": "session revoked"})
        refused_client = Client()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused_client.sio.connect(
                f"{url}?token=x", transports=["websocket"], wait_timeout=CONNECT_S
            )
        assert "session revoked" in str(refused_client.refused)
    finally:
        edges.close()


async def test_a_socket_of_a_family_that_never_renews_its_token_outlives_the_token(
    plus_edge: str, services: Services, settings: StackSettings, clients: list[Client]
) -> None:
    """plus's front end reads its token once and its own server never cuts a live socket:
    ending it at expiry would stop every tab's updates for good. ticketz renews on every
    reconnect attempt, so its sockets do end with their token (tests/e2e/test_gateway.py)."""
    c = _company()
    short = jwt.encode(
        {"id": 9, "companyId": int(c), "exp": int(time.time()) + 8}, SECRET, algorithm="HS256"
    )
    # 8 s: long enough to connect within on a loaded box, short enough to wait out.
    client = await _connect(clients, plus_edge, f"token=Bearer%20{short}", f"/{c}")
    expired = time.time() + 10
    await client.until(lambda: time.time() > expired, "the token's expiry and then some")
    assert client.sio.connected
    await _publish(
        services.ingest_url,
        settings,
        {"company_id": c, "namespace": f"/{c}", "event": "late", "data": 1},
    )
    await client.until(lambda: client.events("late"), "a publication after the token expired")
    assert not client.events("tidewire:reauth")
