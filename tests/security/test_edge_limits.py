"""Edge limits against a hostile tenant: connect storms, socket hoarding, room hoarding and
sessions of nothing filling Redis. An edge node of its own with tight limits (the suite's other
nodes keep the defaults), trusting 127.0.0.1 as a proxy so that each test speaks from addresses
of its own (X-Forwarded-For) and no test eats another's connect budget."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as redis
import socketio

from tests.support.api import Api
from tests.support.chat import Chat
from tests.support.jsclient import JsClient
from tests.support.stack import Services, Stack
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.security

PER_USER, PER_COMPANY, CONNECTS, ROOMS, QUIET_S = 2, 4, 6, 4, 5
SESSIONS = "tidewire:edge:session:"


@pytest.fixture(scope="module")
def strict_edge(services: Services, stack: Stack) -> Iterator[str]:
    """An edge node with small limits; returns its URL."""
    env = {
        "TIDEWIRE_EDGE_MAX_SOCKETS_PER_USER": str(PER_USER),
        "TIDEWIRE_EDGE_MAX_SOCKETS_PER_COMPANY": str(PER_COMPANY),
        "TIDEWIRE_EDGE_CONNECTS_PER_ADDRESS": str(CONNECTS),
        "TIDEWIRE_EDGE_CONNECT_WINDOW_S": "600",  # no window ends during a test
        "TIDEWIRE_EDGE_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "TIDEWIRE_EDGE_MAX_ROOMS_PER_SOCKET": str(ROOMS),
        "TIDEWIRE_EDGE_QUIET_SESSION_S": str(QUIET_S),
    }
    node = Services(services.settings, stack.run_dir, env=env)
    node.start(f"edge-{node.edge_ports[0]}")
    try:
        yield node.edge_url(0)
    finally:
        node.stop_all()


@pytest.fixture
async def r(services: Services) -> AsyncIterator[redis.Redis]:
    client = redis.from_url(services.settings.redis_url)
    yield client
    await client.aclose()


def _address() -> str:
    """A client address nobody else uses (TEST-NET-2 range, random host)."""
    n = uuid.uuid4().int
    return f"198.51.{n % 256}.{(n >> 8) % 254 + 1}"


class Attempt:
    """One python-socketio client's connect: `client` once connected, else the refusal."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.refusal: dict[str, Any] | None = None
        self.client.on("connect_error", self._refused)

    async def _refused(self, data: Any = None) -> None:
        self.refusal = data

    @classmethod
    async def connect(
        cls, url: str, token: str, address: str | None = None, **auth: Any
    ) -> Attempt:
        attempt = cls()
        try:
            await attempt.client.connect(
                url,
                auth={"token": token, **auth},
                headers={"X-Forwarded-For": address or _address()},
                transports=["websocket"],
                wait_timeout=10,
            )
        except socketio.exceptions.ConnectionError:
            assert attempt.refusal is not None, "refused without a CONNECT_ERROR"
        return attempt

    @property
    def connected(self) -> bool:
        return bool(self.client.connected)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


async def _sessions_of(r: redis.Redis, company: str) -> dict[str, dict[str, Any]]:
    """The company's recovery sessions in Redis: key -> session."""
    found = {}
    async for key in r.scan_iter(match=SESSIONS + "*", count=1000):
        raw = await r.get(key)
        if raw is not None and json.loads(raw)["company_id"] == company:
            found[key.decode()] = json.loads(raw)
    return found


async def _poll(probe: Any, what: str, within: float = 30) -> Any:
    """Await `probe()` until it returns something truthy, or fail with `what`."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        got = await probe()
        if got:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_connect_storm_from_one_address_is_refused_past_the_rate(
    strict_edge: str, company: str
) -> None:
    token = issue_token_for(company, "storm")
    storm = _address()
    # An official client of the same address, connected before the storm.
    js = await JsClient.connect(
        strict_edge, auth={"token": token}, extraHeaders={"X-Forwarded-For": storm}
    )
    try:
        first = await js.nth_connect(1)
        for _ in range(CONNECTS - 1):
            attempt = await Attempt.connect(strict_edge, token, storm)
            assert attempt.connected, attempt.refusal
            await attempt.close()
        refused = await Attempt.connect(strict_edge, token, storm)
        assert not refused.connected
        assert refused.refusal is not None
        assert refused.refusal["message"] == (
            f"too many connects from this address (limit {CONNECTS} per 600 s)"
        )
        assert refused.refusal["data"]["code"] == "too_many_connects"
        made_up = await Attempt.connect(strict_edge, token, storm, pid="0" * 32)
        assert not made_up.connected  # a pid that recovers nothing is no way past the rate
        # Nobody else is affected: the same user from another address connects.
        other = await Attempt.connect(strict_edge, token)
        assert other.connected, other.refusal
        await other.close()
        # A client recovering its session is let in past the rate (it adds nothing to Redis,
        # and socket.io-client would never retry a refusal).
        await js.send("drop")
        await js.wait_for(lambda h: h["kind"] == "disconnect", what="the drop")
        await js.send("connect")
        again = await js.nth_connect(2)
        assert again["recovered"] is True
        assert again["id"] == first["id"]
    finally:
        await js.close()


async def test_too_many_sockets_of_one_user_are_refused_until_one_leaves(
    strict_edge: str, company: str
) -> None:
    token = issue_token_for(company, "hoarder")
    held = [await Attempt.connect(strict_edge, token) for _ in range(PER_USER)]
    try:
        assert all(a.connected for a in held), [a.refusal for a in held]
        extra = await Attempt.connect(strict_edge, token)
        assert not extra.connected
        assert extra.refusal is not None
        assert extra.refusal["message"] == f"too many sockets for this user (limit {PER_USER})"
        assert extra.refusal["data"] == {
            "code": "too_many_sockets",
            "reason": f"too many sockets for this user (limit {PER_USER})",
            "limit": PER_USER,
        }
        colleague = await Attempt.connect(strict_edge, issue_token_for(company, "colleague"))
        assert colleague.connected, colleague.refusal  # the limit is the user's, not the company's
        held.append(colleague)
        await held.pop(0).close()

        async def admitted() -> Attempt | None:
            attempt = await Attempt.connect(strict_edge, token)
            return attempt if attempt.connected else None

        held.append(await _poll(admitted, "a socket admitted after one left"))
    finally:
        for attempt in held:
            await attempt.close()


async def test_too_many_sockets_of_one_company_are_refused(strict_edge: str, company: str) -> None:
    held = [
        await Attempt.connect(strict_edge, issue_token_for(company, f"agent-{i}"))
        for i in range(PER_COMPANY)
    ]
    try:
        assert all(a.connected for a in held), [a.refusal for a in held]
        extra = await Attempt.connect(strict_edge, issue_token_for(company, "one-too-many"))
        assert not extra.connected
        assert extra.refusal is not None
        assert extra.refusal["message"] == (
            f"too many sockets for this company (limit {PER_COMPANY})"
        )
        other = await Attempt.connect(strict_edge, issue_token_for(f"{company}x", "agent-0"))
        assert other.connected, other.refusal  # another company is not affected
        await other.close()
    finally:
        for attempt in held:
            await attempt.close()


async def test_a_socket_cannot_join_more_rooms_than_the_limit(
    strict_edge: str, company: str
) -> None:
    attempt = await Attempt.connect(strict_edge, issue_token_for(company, "roomy"))
    sio = attempt.client
    errors: list[Any] = []
    sio.on("error", errors.append)
    try:
        assert attempt.connected, attempt.refusal
        # Its company and user rooms count: two more fit.
        assert (await sio.call("joinTickets", "open", timeout=10))["ok"] is True
        assert (await sio.call("joinTickets", "pending", timeout=10))["ok"] is True
        refused = await sio.call("joinNotification", timeout=10)
        message = f"too many rooms for this socket (limit {ROOMS})"
        assert refused == {"ok": False, "error": message}
        assert (await sio.call("joinTickets", "open", timeout=10))["ok"] is True  # already in
        assert (await sio.call("leaveTickets", "open", timeout=10))["ok"] is True
        assert (await sio.call("joinNotification", timeout=10))["ok"] is True  # room again
        assert errors == [{"message": message}]
    finally:
        await attempt.close()


async def test_a_session_that_never_received_anything_expires_quickly(
    strict_edge: str, company: str, r: redis.Redis
) -> None:
    attempt = await Attempt.connect(strict_edge, issue_token_for(company, "quiet"))
    assert attempt.connected, attempt.refusal
    (key,) = await _poll(lambda: _sessions_of(r, company), "the session in Redis")
    assert await r.ttl(key) > QUIET_S  # while connected: the whole recovery window
    await attempt.close()

    async def shortened() -> bool:
        return bool(await r.ttl(key) <= QUIET_S)  # -2 once gone: shortened too

    await _poll(shortened, f"the session's TTL cut to {QUIET_S} s at the drop")
    await _poll(lambda: _gone(r, key), "the quiet session gone from Redis")


async def test_a_session_that_received_an_event_keeps_the_recovery_window(
    strict_edge: str, api: Api, company: str, r: redis.Redis
) -> None:
    chat = Chat(api, company)
    busy = await Attempt.connect(strict_edge, issue_token_for(company, "busy"))
    got: list[Any] = []
    busy.client.on(chat.name, lambda body, *_: got.append(body))
    assert busy.connected, busy.refusal
    (key,) = await _poll(lambda: _sessions_of(r, company), "the session in Redis")
    await chat.say("hello")

    async def received() -> bool:
        return bool(got)

    await _poll(received, "the event")
    await busy.close()
    # A quiet socket dropped after it: once its session is gone, the quiet expiry has passed
    # for the busy one too, which must still be there with the whole window.
    quiet = await Attempt.connect(strict_edge, issue_token_for(f"{company}q", "quiet"))
    assert quiet.connected, quiet.refusal
    (quiet_key,) = await _poll(lambda: _sessions_of(r, f"{company}q"), "the quiet session")
    await quiet.close()
    await _poll(lambda: _gone(r, quiet_key), "the quiet session gone from Redis")
    assert await r.ttl(key) > QUIET_S


async def test_redis_growth_per_connect_is_bounded_and_goes_away(
    strict_edge: str, company: str, r: redis.Redis
) -> None:
    cycles = 20
    token = issue_token_for(company, "cycler")
    for n in range(cycles):
        attempt = await Attempt.connect(strict_edge, token)
        assert attempt.connected, attempt.refusal
        if n < cycles - 1:
            await attempt.close()
    # Counted while the last socket is still connected: a quiet session lives QUIET_S after
    # its drop, which a slow scan of a busy Redis could outlast and find nothing to measure.
    sessions = await _sessions_of(r, company)
    await attempt.close()
    assert 0 < len(sessions) <= cycles
    sizes = [await r.memory_usage(key) or 0 for key in sessions]
    assert max(sizes) <= 1024, sizes  # bytes per connect, bounded by the session's size

    async def all_gone() -> bool:
        return not await _sessions_of(r, company)

    await _poll(all_gone, f"{cycles} quiet sessions gone", within=QUIET_S + 30)


async def _gone(r: redis.Redis, key: str) -> bool:
    return not await r.exists(key)


def issue_token_for(company: str, user: str) -> str:
    return issue_token(StackSettings(), company, user)  # the suite's settings, as `settings`
