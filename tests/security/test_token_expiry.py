"""A socket ends with its token: at `exp` the edge tells it `tidewire:reauth` and drops it, a
reconnect with the old token is refused with `token expired`, and one with a new token recovers
the session with every missed event once. Against the real stack's edge nodes, with the
official socket.io-client."""

from __future__ import annotations

import asyncio

import pytest
import socketio

from tests.support.api import Api
from tests.support.chat import Chat, open_client
from tests.support.jsclient import Happening, JsClient
from tests.support.stack import Services
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.security

TTL_S = 8  # short enough to wait for, long enough to connect within on a loaded box


def _reauth(h: Happening) -> bool:
    return h["kind"] == "event" and h["name"] == "tidewire:reauth"


async def _cut(js: JsClient) -> Happening:
    """The client is told to reauthenticate, then dropped; returns the reauth event."""
    told = await js.wait_for(_reauth, 30, "tidewire:reauth at the token's expiry")
    await js.wait_for(lambda h: h["kind"] == "disconnect", 10, "the disconnect after reauth")
    return told


async def test_a_socket_is_cut_at_its_tokens_expiry_and_gets_nothing_after(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    short = issue_token(services.settings, company, "agent-1", ttl=TTL_S)
    js = await open_client(services.edge_url(0), short)
    watcher = socketio.AsyncClient(reconnection=False)  # same company, a long-lived token
    seen: list[str] = []
    watcher.on(chat.name, lambda body, *_: seen.append(body["message"]["body"]))
    await watcher.connect(
        services.edge_url(1), auth={"token": agent_token}, transports=["websocket"], wait_timeout=10
    )
    try:
        told = await _cut(js)
        assert told["args"][0]["reason"] == "token expired"
        assert [h["reason"] for h in js.seen if h["kind"] == "disconnect"] == ["transport close"]
        await chat.say("after expiry")
        await asyncio.to_thread(
            api.until, lambda: seen == ["after expiry"], "the watcher got the message"
        )
        assert js.bodies(chat.name) == []  # the expired socket did not
        # Its client reconnecting with the same token is refused, saying why.
        await js.send("connect")
        refused = await js.wait_for(lambda h: h["kind"] == "connect_error", what="refusal")
        assert refused["message"] == "token expired"
        assert refused["data"]["code"] == "token_expired"
        assert js.bodies(chat.name) == []
    finally:
        await watcher.disconnect()
        await js.close()


async def test_a_new_token_on_reconnect_keeps_the_session_and_misses_nothing(
    services: Services, api: Api, company: str
) -> None:
    chat = Chat(api, company)
    short = issue_token(services.settings, company, "agent-1", ttl=TTL_S)
    js = await open_client(services.edge_url(0), short)
    try:
        first = js.connects()[0]
        await _cut(js)
        await chat.say("missed 1", "missed 2")  # while the client gets a new token
        renewed = issue_token(services.settings, company, "agent-1", ttl=600)
        await js.send("auth", auth={"token": renewed})
        await js.send("connect")
        again = await js.nth_connect(2)
        assert again["recovered"] is True
        assert again["id"] == first["id"]
        assert await chat.received_all(js) == ["missed 1", "missed 2"]
        await chat.say("live")
        assert await chat.received_all(js) == ["missed 1", "missed 2", "live"]  # each once
        assert [h for h in js.seen if h["kind"] == "connect_error"] == []
    finally:
        await js.close()
