"""The tidewire SDK (sdk/js) in Node.js against the real stack: optimistic sends reconciled
with their facts, polling while the socket cannot connect, a reload resuming from the stored
cursor, and the SDK's reducer ending equal to the query API (Zulip's `verify_action` idea,
applied to the client)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import whatsapp as wa
from tests.support.api import Api
from tests.support.jsclient import Happening, JsClient
from tests.support.stack import Services, free_port
from tidewire_platform.cursor import Cursor
from tidewire_simulator.cloud_api import Accept, AcceptThenFail, CloudApi, Fail

pytestmark = pytest.mark.e2e


async def _sdk(services: Services, token: str, edge: str | None = None, **options: Any) -> JsClient:
    """The SDK with a loaded inbox (ticket lists read, socket started)."""
    sdk = await JsClient.run(
        "sdk-client.mjs",
        json.dumps(
            {
                "apiUrl": services.ingest_url,
                "edgeUrl": edge or services.edge_url(0),
                "token": token,
                "pollFastMs": 300,
                **options,
            }
        ),
    )
    await sdk.wait_for(lambda h: h["kind"] in ("loaded", "error"), what="load")
    assert not [h for h in sdk.seen if h["kind"] == "error"], sdk.seen
    return sdk


async def _state(sdk: JsClient) -> Happening:
    ref = random.random()
    await sdk.send("state", ref=ref)
    return await sdk.wait_for(lambda h: h["kind"] == "state" and h["ref"] == ref, what="state")


async def _until_state(sdk: JsClient, check: Any, what: str, within: float = 30) -> Happening:
    """Ask for the SDK's state until `check(state)` holds (a deadline, no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state = await _state(sdk)
        if check(state):
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"SDK state never showed {what}: {state}")
        await asyncio.sleep(0.1)


def _messages(state: Happening, ticket: str) -> list[dict[str, Any]]:
    return list(state["conversations"][ticket]["messages"])


async def test_an_optimistic_send_shows_at_once_and_is_replaced_by_its_fact(
    services: Services, agent_token: str, api: Api
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket)
    sdk = await _sdk(services, agent_token)
    try:
        await sdk.send("open", ticketId=ticket)
        await sdk.wait_for(lambda h: h["kind"] == "opened", what="conversation")
        await sdk.send("send", ticketId=ticket, body="um momento")
        sending = await sdk.wait_for(lambda h: h["kind"] == "sending", what="the send")
        assert sending["shown"] is True  # in the conversation before any answer
        key = sending["clientMessageId"]

        def confirmed(state: Happening) -> bool:
            mine = [m for m in _messages(state, ticket) if m["clientMessageId"] == key]
            return len(mine) == 1 and not state["conversations"][ticket]["pending"]

        state = await _until_state(sdk, confirmed, "the server's message in place of the pending")
        mine = next(m for m in _messages(state, ticket) if m["clientMessageId"] == key)
        assert (mine["body"], mine["fromMe"]) == ("um momento", True)

        # The Graph API took it (wamid recorded); WhatsApp then reports it delivered.
        with_wamid = await _until_state(
            sdk,
            lambda s: any(m["clientMessageId"] == key and m["wamid"] for m in _messages(s, ticket)),
            "the wamid",
        )
        wamid = next(m["wamid"] for m in _messages(with_wamid, ticket) if m["wamid"])
        await asyncio.to_thread(api.deliver, statuses=[wa.status(wamid, "delivered")])
        await _until_state(
            sdk,
            lambda s: any(m["wamid"] == wamid and m["ack"] == 2 for m in _messages(s, ticket)),
            "the delivered tick",
        )
    finally:
        await sdk.close()


async def test_a_message_whatsapp_refused_is_failed_and_retried_as_a_new_one(
    services: Services, agent_token: str, api: Api, graph: CloudApi, phone: str
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket)
    graph.behave(Fail(), phone_number_id=phone)
    sdk = await _sdk(services, agent_token)
    try:
        await sdk.send("open", ticketId=ticket)
        await sdk.wait_for(lambda h: h["kind"] == "opened", what="conversation")
        await sdk.send("send", ticketId=ticket, body="vai falhar")
        key = (await sdk.wait_for(lambda h: h["kind"] == "sending", what="send"))["clientMessageId"]
        state = await _until_state(
            sdk,
            lambda s: any(
                m["clientMessageId"] == key and m["ack"] == -1 for m in _messages(s, ticket)
            ),
            "the failed mark",
        )
        failed = next(m for m in _messages(state, ticket) if m["clientMessageId"] == key)
        assert failed["error"]  # the reason, for the agent to see

        graph.behave(Accept(), phone_number_id=phone)
        await sdk.send("retry", clientMessageId=key)
        again = (await sdk.wait_for(lambda h: h["kind"] == "retrying", what="retry"))[
            "clientMessageId"
        ]
        assert again not in (None, key)  # a new message: the refused one's key is spent
        await _until_state(
            sdk,
            lambda s: any(
                m["clientMessageId"] == again and m["body"] == "vai falhar" and m["wamid"]
                for m in _messages(s, ticket)
            ),
            "the retried message sent",
        )
    finally:
        await sdk.close()


async def test_a_send_graph_may_have_taken_is_unknown_and_sent_again_only_when_asked(
    services: Services, agent_token: str, api: Api, graph: CloudApi, phone: str
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket)
    graph.behave(AcceptThenFail(), phone_number_id=phone)
    sdk = await _sdk(services, agent_token)
    try:
        await sdk.send("open", ticketId=ticket)
        await sdk.wait_for(lambda h: h["kind"] == "opened", what="conversation")
        await sdk.send("send", ticketId=ticket, body="chegou?")
        key = (await sdk.wait_for(lambda h: h["kind"] == "sending", what="send"))["clientMessageId"]
        state = await _until_state(
            sdk,
            lambda s: any(
                m["clientMessageId"] == key and m["ack"] == -2 for m in _messages(s, ticket)
            ),
            "the unknown mark",
        )
        unknown = next(m for m in _messages(state, ticket) if m["clientMessageId"] == key)
        assert unknown["error"].startswith("unknown: ")  # the reason, for the agent to weigh
        assert len(graph.seen(phone)) == 1  # nothing sent again by itself

        graph.behave(Accept(), phone_number_id=phone)
        await sdk.send("retry", clientMessageId=key)
        again = (await sdk.wait_for(lambda h: h["kind"] == "retrying", what="retry"))[
            "clientMessageId"
        ]
        assert again not in (None, key)  # the agent's choice: a new message
        state = await _until_state(
            sdk,
            lambda s: any(
                m["clientMessageId"] == again and m["wamid"] for m in _messages(s, ticket)
            ),
            "the message sent again",
        )
        old = next(m for m in _messages(state, ticket) if m["clientMessageId"] == key)
        assert old["ack"] == -2  # the first stays as it was
        assert [s.body["text"]["body"] for s in graph.seen(phone)] == ["chegou?", "chegou?"]
    finally:
        await sdk.close()


async def test_polling_delivers_while_the_socket_cannot_connect(
    services: Services, agent_token: str, api: Api
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket)
    await asyncio.to_thread(api.until, api.events, "the first event")
    nowhere = f"http://127.0.0.1:{free_port()}"  # no edge listens there
    sdk = await _sdk(services, agent_token, edge=nowhere)
    try:
        await sdk.send("open", ticketId=ticket)
        await sdk.wait_for(lambda h: h["kind"] == "opened", what="conversation")
        await asyncio.to_thread(api.deliver, [wa.text_message("ainda aí?")])
        state = await _until_state(
            sdk,
            lambda s: any(m["body"] == "ainda aí?" for m in _messages(s, ticket)),
            "the message fetched by polling",
        )
        assert not [h for h in sdk.seen if h["kind"] == "status" and h["socket"] == "up"]
        loaded = next(h["cursor"] for h in sdk.seen if h["kind"] == "loaded")
        assert Cursor.decode(state["cursor"]).offset > Cursor.decode(loaded).offset
    finally:
        await sdk.close()


async def test_a_reload_resumes_from_the_stored_cursor(
    services: Services, agent_token: str, api: Api, tmp_path: Path
) -> None:
    await asyncio.to_thread(api.open_ticket)
    await asyncio.to_thread(api.until, api.events, "the first event")
    storage = str(tmp_path / "local-storage.json")
    first = await _sdk(services, agent_token, storageFile=storage, pollSlowMs=600000)
    await first.wait_for(lambda h: h["kind"] == "status" and h["socket"] == "up", what="socket")
    await first.close()  # the tab is closed
    bodies = [f"enquanto fechado {n}" for n in range(3)]
    for body in bodies:
        await asyncio.to_thread(api.deliver, [wa.text_message(body)])
    await asyncio.to_thread(api.until, lambda: len(api.events()) >= 4, "4 events")
    missed = [e["id"] for e in api.events()[1:]]
    assert len(missed) == 3

    again = await _sdk(services, agent_token, storageFile=storage, pollSlowMs=600000)
    try:
        await again.wait_for(
            lambda _: {h["id"] for h in again.seen if h["kind"] == "change"} >= set(missed),
            what="the missed events",
        )
        # A marker after them: anything the other channel repeats would come before it.
        await asyncio.to_thread(api.deliver, [wa.text_message("marcador")])
        await asyncio.to_thread(api.until, lambda: len(api.events()) >= 5, "the marker's event")
        marker = api.events()[-1]["id"]
        await again.wait_for(lambda h: h["kind"] == "change" and h["id"] == marker, what="marker")
        changes = [h["id"] for h in again.seen if h["kind"] == "change"]
        assert changes == [*missed, marker]  # exactly those, in order, once
        assert not [h for h in again.seen if h["kind"] == "resync"]
    finally:
        await again.close()


async def test_the_state_the_sdk_folds_equals_the_query_api(
    services: Services, agent_token: str, api: Api
) -> None:
    """Random customers, agent sends, ticket changes and reads, with a socket drop halfway:
    the SDK's tickets and conversations end equal to what the query API returns."""
    rnd = random.Random(20261126)
    customers = [f"55119{n:07d}" for n in range(3)]
    await asyncio.to_thread(api.deliver, [wa.text_message("primeira", sender=customers[0])])
    pending = await asyncio.to_thread(api.until, lambda: api.tickets("pending"), "a ticket")
    watched = pending[0]["id"]  # the conversation the SDK keeps open
    # No slow poll within the test: what the socket loses must show, not be patched over
    # (the poller still runs, fast, while the socket is down after the drop).
    sdk = await _sdk(services, agent_token, pollSlowMs=600_000)
    try:
        await sdk.send("open", ticketId=watched)
        await sdk.wait_for(lambda h: h["kind"] == "opened", what="conversation")
        for step in range(30):
            if step == 15:
                await sdk.send("drop")
            tickets = [t["id"] for t in api.tickets("pending") + api.tickets("open")]
            action = rnd.choice(["inbound", "inbound", "send", "update", "read"])
            if action == "inbound" or not tickets:
                sender = rnd.choice(customers)
                await asyncio.to_thread(api.deliver, [wa.text_message(f"s{step}", sender=sender)])
            elif action == "send":
                await sdk.send("send", ticketId=rnd.choice(tickets), body=f"a{step}")
            elif action == "update":
                status = rnd.choice(["open", "pending", "closed"])
                resp = api.http.patch(
                    f"/api/tickets/{rnd.choice(tickets)}", json={"status": status}
                )
                assert resp.status_code == 202, resp.text
            else:
                assert api.http.post(f"/api/tickets/{rnd.choice(tickets)}/read").status_code == 202

        def rest_view() -> dict[str, Any]:
            return {
                "tickets": {s: api.tickets(s) for s in ("open", "pending")},
                "messages": api.get(f"/api/tickets/{watched}/messages", limit=100)["messages"],
            }

        last: dict[str, Any] = {}

        def equal(state: Happening) -> bool:
            nonlocal last
            last = rest_view()
            conversation = state["conversations"][watched]
            return (
                state["tickets"] == last["tickets"]
                and conversation["messages"] == last["messages"]
                and not conversation["pending"]
            )

        try:
            await _until_state(sdk, equal, "the query API's state", within=60)
        except AssertionError:
            state = await _state(sdk)
            assert state["tickets"] == last["tickets"]  # shows the difference
            raise
        # The socket comes back recovered after the drop; the poller, fast while the socket is
        # down, may have brought the state level before the reconnect lands.
        await sdk.wait_for(
            lambda h: h["kind"] == "status" and bool(h.get("recovered")), what="the recovery"
        )
        ids = [h["id"] for h in sdk.seen if h["kind"] == "change"]
        assert len(ids) == len(set(ids)), "an event reached the application twice"
    finally:
        await sdk.close()


def _edge_metric(services: Services, name: str) -> float:
    """A counter of edge 0, from its /metrics (0 before its first increment)."""
    text = httpx.get(f"{services.edge_url(0)}/metrics", timeout=5).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


async def test_ack_mode_acknowledges_what_the_app_received(
    services: Services, agent_token: str, api: Api
) -> None:
    await asyncio.to_thread(api.open_ticket)
    await asyncio.to_thread(api.until, api.events, "the first event")
    acked = "tidewire_edge_acked_events_total"
    before = await asyncio.to_thread(_edge_metric, services, acked)
    sdk = await _sdk(services, agent_token, acks=True, pollSlowMs=600_000)
    try:
        await sdk.wait_for(lambda h: h["kind"] == "status" and h["socket"] == "up", what="socket")
        for n in range(5):
            await asyncio.to_thread(api.deliver, [wa.text_message(f"ack {n}")])
        await sdk.wait_for(
            lambda _: len([h for h in sdk.seen if h["kind"] == "change"]) >= 5, what="5 events"
        )
        # The edge counts an event as acknowledged once the SDK's batched ack covers it.
        deadline = asyncio.get_running_loop().time() + 20
        while await asyncio.to_thread(_edge_metric, services, acked) < before + 5:
            assert asyncio.get_running_loop().time() < deadline, "the edge never saw the acks"
            await asyncio.sleep(0.1)
    finally:
        await sdk.close()
