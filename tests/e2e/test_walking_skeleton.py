"""The whole path on the real stack: HTTP → Kafka → faust → Cassandra + events → edge → sockets.

Two real clients, on two different edge nodes: python-socketio and the official npm client.
"""

import asyncio
import time

import httpx
import pytest
import socketio

from tests.support.api import Api
from tests.support.jsclient import JsClient
from tests.support.stack import Services
from tidewire_platform.cursor import Cursor

pytestmark = pytest.mark.e2e


async def test_message_reaches_both_clients_and_the_read_model(
    services: Services, company: str, agent_token: str, api: Api
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket)
    # The read model is written before the event is appended: wait for the event too, or it
    # could reach the clients below as if it were the agent's message.
    await asyncio.to_thread(api.until, api.events, "the customer's event")
    event_name = f"company-{company}-appMessage"
    py_got: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    py = socketio.AsyncClient()
    py.on(event_name, lambda data, *offset: py_got.put_nowait(data))
    await py.connect(
        services.edge_url(0), auth={"token": agent_token}, transports=["websocket"], wait_timeout=10
    )
    js = await JsClient.connect(services.edge_url(1), auth={"token": agent_token})
    try:
        await js.wait_for(lambda h: h["kind"] == "connect", what="connect")
        async with httpx.AsyncClient(base_url=services.ingest_url, timeout=15) as http:
            resp = await http.post(
                f"/api/tickets/{ticket}/messages",
                json={"client_message_id": f"m-{time.time_ns()}", "body": "hello tidewire"},
                headers={"Authorization": f"Bearer {agent_token}"},
            )
        assert resp.status_code == 202, resp.text
        command_id = resp.json()["command_id"]

        py_event = await asyncio.wait_for(py_got.get(), 30)
        js_event = (await js.wait_for(lambda h: h["kind"] == "event", 30, "appMessage"))["args"][0]
        for got in (py_event, js_event):
            assert got["action"] == "create"
            assert got["message"]["id"] == command_id
            assert got["message"]["body"] == "hello tidewire"
            Cursor.decode(got["cursor"])  # every delivered event carries a valid cursor
        assert py_event["cursor"] == js_event["cursor"]
        # Exactly once, the cursor as the last argument (socket.io's recovery offset).
        created = [a for a in js.events(event_name) if a[0]["action"] == "create"]
        assert created == [[js_event, js_event["cursor"]]]

        # Read model first, then event: the message is there by the time the event arrived.
        async with httpx.AsyncClient(base_url=services.ingest_url, timeout=15) as http:
            page = await http.get(
                f"/api/tickets/{ticket}/messages",
                headers={"Authorization": f"Bearer {agent_token}"},
            )
        assert [(m["id"], m["body"]) for m in page.json()["messages"]][-1] == (
            command_id,
            "hello tidewire",
        )
    finally:
        await py.disconnect()
        await js.close()


async def test_bad_token_gets_a_connect_error_with_the_reason(services: Services) -> None:
    js = await JsClient.connect(services.edge_url(0), auth={"token": "not-a-jwt"})
    try:
        err = await js.wait_for(lambda h: h["kind"] == "connect_error", what="connect_error")
        assert "invalid token" in err["message"]
    finally:
        await js.close()


async def test_cursor_epoch_is_the_events_topic_id(
    services: Services, company: str, agent_token: str, api: Api
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket)
    from tidewire_platform.kafka_topic_id import fetch_topic_ids

    s = services.settings
    ids = await fetch_topic_ids(s.kafka_bootstrap, [s.events_topic, s.commands_topic])
    assert ids[s.events_topic] != ids[s.commands_topic]
    js = await JsClient.connect(services.edge_url(0), auth={"token": agent_token})
    try:
        await js.wait_for(lambda h: h["kind"] == "connect", what="connect")
        async with httpx.AsyncClient(base_url=services.ingest_url, timeout=15) as http:
            await http.post(
                f"/api/tickets/{ticket}/messages",
                json={"client_message_id": "epoch-1", "body": "x"},
                headers={"Authorization": f"Bearer {agent_token}"},
            )
        got = await js.wait_for(lambda h: h["kind"] == "event", 30, "appMessage")
        assert Cursor.decode(got["args"][0]["cursor"]).epoch == ids[s.events_topic]
    finally:
        await js.close()
