"""The simulation against a stand-in ingest on loopback: what an agent's send sets off (signed
statuses in WhatsApp's order, then the customer's answer), customers writing on their own,
and a webhook ingest refused for a moment arriving anyway. No engines: both ends are
in-process HTTP servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tidewire_ingest.signature import signature_valid
from tidewire_simulator import simulation
from tidewire_simulator.cloud_api import CloudApi
from tidewire_simulator.simulation import Company, Pace, Simulation

pytestmark = pytest.mark.unit

CO = Company("c1", "C1", "pn-c1", "15550100009", "vt", "secret-c1", "token-c1")


@dataclass
class Ingest:
    """Takes webhooks like ingest's endpoint, checking CO's signature; `refuse` answers 503
    that many times first."""

    url: str = ""
    refuse: int = 0
    bodies: list[Any] = field(default_factory=list)
    bad_signatures: int = 0
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def until(self, count: int, what: str) -> None:
        """Wait (ten seconds at most) until `count` webhooks were taken."""
        try:
            async with asyncio.timeout(10), self.arrived:
                await self.arrived.wait_for(lambda: len(self.bodies) >= count)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.refuse > 0:
            self.refuse -= 1
            return web.json_response({"title": "busy"}, status=503)
        if not signature_valid(raw, request.headers.get("X-Hub-Signature-256"), CO.app_secret):
            self.bad_signatures += 1
            return web.json_response({"title": "bad signature"}, status=401)
        async with self.arrived:
            self.bodies.append(json.loads(raw))
            self.arrived.notify_all()
        return web.json_response({"status": "ok"})

    def values(self) -> list[dict[str, Any]]:
        return [b["entry"][0]["changes"][0]["value"] for b in self.bodies]


@pytest.fixture
async def ingest() -> AsyncIterator[Ingest]:
    got = Ingest()
    app = web.Application()
    app.router.add_post("/webhooks/whatsapp", got.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    got.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield got
    await runner.cleanup()


@pytest.fixture
async def api() -> AsyncIterator[CloudApi]:
    server = CloudApi()
    await server.open()
    yield server
    await server.close()


async def _send(api: CloudApi, to: str, text: str, token: str = CO.access_token) -> str:
    """What the outbound sender does: one Graph call; returns the wamid."""
    body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": text}}
    async with aiohttp.ClientSession() as http:
        url = f"{api.base_url}/{CO.phone_number_id}/messages"
        async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200, await r.text()
            return str((await r.json())["messages"][0]["id"])


def _pace(**kw: Any) -> Pace:
    base: dict[str, Any] = {
        "rate": 0.0,
        "customers": 2,
        "failure_rate": 0.0,
        "answer_rate": 1.0,
        "answer_delay": (0.0, 0.0),
        "speed": 1000.0,
        "seed": 4,
    }
    return Pace(**{**base, **kw})


async def test_an_agents_message_gets_sent_delivered_read_then_the_customers_answer(
    api: CloudApi, ingest: Ingest
) -> None:
    sim = Simulation(api, ingest.url, [CO], _pace())
    await sim.start()
    try:
        customer = sim.crowds[CO.phone_number_id][0]
        wamid = await _send(api, customer.wa_id, "Hello, how can I help?")
        await ingest.until(4, "three statuses and an answer")
    finally:
        await sim.stop()
    *statuses, answer = ingest.values()
    assert [(v["statuses"][0]["id"], v["statuses"][0]["status"]) for v in statuses] == [
        (wamid, "sent"),
        (wamid, "delivered"),
        (wamid, "read"),
    ]
    assert all(v["metadata"]["phone_number_id"] == CO.phone_number_id for v in ingest.values())
    (message,) = answer["messages"]
    assert message["from"] == customer.wa_id
    names = message.get("reaction", {}).get("message_id"), message.get("context", {}).get("id")
    assert wamid in names or message["type"] == "text"
    assert ingest.bad_signatures == 0


async def test_a_failing_message_gets_failed_and_no_answer(api: CloudApi, ingest: Ingest) -> None:
    sim = Simulation(api, ingest.url, [CO], _pace(failure_rate=1.0))
    await sim.start()
    try:
        wamid = await _send(api, sim.crowds[CO.phone_number_id][1].wa_id, "hi")
        await api.settled()  # the statuses, and the answer if there were one, are posted
    finally:
        await sim.stop()
    states = [(v["statuses"][0]["id"], v["statuses"][0]["status"]) for v in ingest.values()]
    assert states == [(wamid, "sent"), (wamid, "failed")]
    assert ingest.values()[1]["statuses"][0]["errors"][0]["code"] == 131026


async def test_customers_write_on_their_own_and_a_refused_webhook_is_posted_again(
    api: CloudApi, ingest: Ingest
) -> None:
    ingest.refuse = 2
    sim = Simulation(api, ingest.url, [CO], _pace(rate=100.0, customers=3))
    await sim.start()
    try:
        await ingest.until(20, "twenty customers' messages")
    finally:
        await sim.stop()
    messages = [v["messages"][0] for v in ingest.values()]
    firsts: dict[str, dict[str, Any]] = {}
    for m in messages:
        firsts.setdefault(m["from"], m)
    assert set(firsts) <= {c.wa_id for c in sim.crowds[CO.phone_number_id]}
    assert all(m["type"] == "text" and "context" not in m for m in firsts.values())
    assert sim.dropped == 0  # the two 503s were posted again, not lost
    assert ingest.values()[0]["contacts"][0]["wa_id"] == messages[0]["from"]


async def test_sends_of_numbers_it_does_not_simulate_get_no_webhooks(
    api: CloudApi, ingest: Ingest
) -> None:
    sim = Simulation(api, ingest.url, [CO], _pace())
    api.connect("pn-other", "token-other")
    await sim.start()
    try:
        body = {
            "messaging_product": "whatsapp",
            "to": "5511",
            "type": "text",
            "text": {"body": "x"},
        }
        async with aiohttp.ClientSession() as http:
            url = f"{api.base_url}/pn-other/messages"
            headers = {"Authorization": "Bearer token-other"}
            async with http.post(url, json=body, headers=headers) as r:
                assert r.status == 200
        await _send(api, "5511999", "to someone it does not simulate")  # statuses, no answer
        await api.settled()
    finally:
        await sim.stop()
    assert len(ingest.bodies) == 3
    assert all("statuses" in v for v in ingest.values())
    assert {v["metadata"]["phone_number_id"] for v in ingest.values()} == {CO.phone_number_id}


async def test_stop_ends_the_statuses_under_way(api: CloudApi, ingest: Ingest) -> None:
    """A simulation stopped (Ctrl-C, the end of a test) while a message's statuses are still
    to come posts nothing more: before, its tasks went on and failed on a closed session."""
    sim = Simulation(api, ingest.url, [CO], _pace(speed=0.01))  # statuses minutes away
    await sim.start()
    await _send(api, sim.crowds[CO.phone_number_id][0].wa_id, "hi")
    await sim.stop()
    async with asyncio.timeout(5):
        await api.settled()  # nothing left running
    assert ingest.bodies == []


async def test_customers_go_on_writing_after_an_unexpected_failure(
    api: CloudApi, ingest: Ingest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One message that blows up (a bug, a bad draw) is logged; before, the loop's task died
    silently and the customers fell quiet for the rest of the run."""
    real = simulation.cust.next_message
    calls = 0

    def flaky(*a: Any, **k: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return real(*a, **k)

    monkeypatch.setattr(simulation.cust, "next_message", flaky)
    sim = Simulation(api, ingest.url, [CO], _pace(rate=100.0))
    await sim.start()
    try:
        await ingest.until(3, "messages after the failing one")
    finally:
        await sim.stop()
    assert sim.errors == 1
    assert "boom" in caplog.text


async def test_the_stand_in_remembers_only_its_last_requests() -> None:
    """A simulator under `tidewire up` runs for days: `seen` keeps the last `keep` sends."""
    server = CloudApi(keep=3)
    await server.open()
    try:
        server.connect(CO.phone_number_id, CO.access_token)
        wamids = [await _send(server, "5511", f"m{i}") for i in range(5)]
        seen = server.seen()
    finally:
        await server.close()
    assert [s.wamid for s in seen] == wamids[2:]
