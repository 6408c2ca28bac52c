"""Services killed under load: edge nodes (SIGKILL, SIGTERM) and the projector (SIGKILL).

These kill processes of the session's shared services and start them again on the same ports;
chaos tests run last, so nothing else sees the gap.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from tests.support import whatsapp as wa
from tests.support.api import Api
from tests.support.chat import Chat, open_client, reconnect
from tests.support.proxy import SwitchingProxy
from tests.support.stack import Services


async def test_edge_killed_and_restarted_recovers_the_session(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    name = f"edge-{services.edge_ports[0]}"
    js = await open_client(services.edge_url(0), agent_token)
    try:
        await chat.say("before the crash")
        await chat.received_all(js)
        await asyncio.to_thread(services.procs[name].kill)
        await js.wait_for(lambda h: h["kind"] == "disconnect", what="disconnect")
        await chat.say("during the crash 1", "during the crash 2")
        await asyncio.to_thread(services.start, name)
        again = await reconnect(js, 2)
        assert again["recovered"] is True
        assert again["id"] == js.connects()[0]["id"]
        await chat.say("after the restart")
        assert await chat.received_all(js) == chat.sent
    finally:
        await js.close()


async def test_rolling_restart_moves_clients_to_the_other_node(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    name = f"edge-{services.edge_ports[1]}"
    proxy = await SwitchingProxy(services.edge_ports[1]).start()
    js = await open_client(proxy.url, agent_token)
    try:
        await chat.say("on the old node")
        await chat.received_all(js)
        # New connections go to the other node; the open one ends only when the old node,
        # stopped with SIGTERM, closes its transports itself.
        await proxy.switch(services.edge_ports[0], cut=False)
        stop = asyncio.create_task(asyncio.to_thread(services.procs[name].stop, 10))
        bye = await js.wait_for(lambda h: h["kind"] == "disconnect", what="disconnect")
        # A drop the client recovers from; a Socket.IO DISCONNECT would be "io server
        # disconnect", after which the official client does not reconnect.
        assert bye["reason"] == "transport close"
        await stop
        await chat.say("during the deploy")
        again = await reconnect(js, 2)
        assert again["recovered"] is True
        await chat.say("on the new node")
        assert await chat.received_all(js) == chat.sent
    finally:
        await js.close()
        await proxy.close()
        if not services.procs[name].running():
            await asyncio.to_thread(services.start, name)


async def test_projector_killed_mid_stream_loses_and_duplicates_nothing(
    services: Services, api: Api, company: str
) -> None:
    total = 500  # one page of messages (the API returns at most 500)

    killed = threading.Event()

    def deliver_all() -> None:
        for batch in range(0, total, 50):
            if batch == total - 50:
                killed.wait(120)  # the last webhook only once the projector is down
            api.deliver([wa.text_message(f"m{n}") for n in range(batch, batch + 50)])

    # The kill lands while webhooks still arrive, so the projector is mid-stream whatever its
    # speed (delivering everything first let a fast projector finish before the kill).
    delivering = asyncio.create_task(asyncio.to_thread(deliver_all))
    await asyncio.to_thread(api.until, lambda: len(api.events()) >= 20, "projection under way")
    projected = len(await asyncio.to_thread(api.events))
    await asyncio.to_thread(services.procs["projector"].kill)
    killed.set()
    await delivering  # ingest keeps accepting while the projector is down
    assert projected < total, "the kill came after the projection: nothing was in flight"
    await asyncio.to_thread(services.start, "projector")
    events = await asyncio.to_thread(
        api.until, lambda: (e := api.events()) and len(e) >= total and e, "all events", 120
    )
    bodies = Counter(e["payload"]["message"]["body"] for e in events)
    assert sorted(bodies) == sorted(f"m{n}" for n in range(total))
    assert set(bodies.values()) == {1}, "an event was emitted twice"
    assert len({e["id"] for e in events}) == total
    [ticket] = api.tickets("pending")
    assert ticket["unreadMessages"] == total  # no command folded twice
    page = api.get(f"/api/tickets/{ticket['id']}/messages", limit=500)["messages"]
    assert [m["body"] for m in page] == [f"m{n}" for n in range(total)]
