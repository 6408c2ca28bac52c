"""Whaticket's room joins, checked against the token's company before a socket enters a room."""

import asyncio
from typing import Any

import pytest
import socketio

from tests.support.api import Api
from tests.support.stack import Services
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.e2e


async def _client(url: str, token: str) -> tuple[socketio.AsyncClient, asyncio.Queue[Any]]:
    errors: asyncio.Queue[Any] = asyncio.Queue()
    sio = socketio.AsyncClient()
    sio.on("error", errors.put_nowait)
    await sio.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return sio, errors


async def test_join_chat_box_only_for_a_ticket_of_the_tokens_company(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket)
    owner, owner_errors = await _client(services.edge_url(0), agent_token)
    intruder = issue_token(services.settings, "co-intruder", "mallory")
    spy, spy_errors = await _client(services.edge_url(1), intruder)
    try:
        joined = await owner.call("joinChatBox", ticket, timeout=10)
        assert joined == {"ok": True, "room": f"company-{company}-ticket-{ticket}"}
        assert await owner.call("leaveChatBox", ticket, timeout=10) == joined

        refused = await spy.call("joinChatBox", ticket, timeout=10)
        assert refused["ok"] is False
        assert "not a ticket of your company" in refused["error"]
        unknown = await owner.call("joinChatBox", "no-such-ticket", timeout=10)
        assert unknown["ok"] is False
        assert "not a ticket of your company" in unknown["error"]

        # The same reasons arrive as Socket.IO `error` events, for clients that do not ask
        # for acknowledgements (Whaticket's front ends emit joins without a callback).
        spy_error = await asyncio.wait_for(spy_errors.get(), 10)
        assert "not a ticket of your company" in spy_error["message"]
        owner_error = await asyncio.wait_for(owner_errors.get(), 10)
        assert "no-such-ticket" in owner_error["message"]
        assert await spy.call("joinTickets", "pending", timeout=10) == {
            "ok": True,
            "room": "company-co-intruder-pending",  # its own company's room, never another's
        }
    finally:
        await owner.disconnect()
        await spy.disconnect()
