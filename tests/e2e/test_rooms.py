"""Whaticket's room joins, checked against the token's company before a socket enters a room."""

import asyncio
from typing import Any

import pytest
import socketio

from tests.support import whatsapp as wa
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


class _Listener:
    """A python-socketio client noting the message bodies of its company's appMessage events."""

    def __init__(self, company: str) -> None:
        self.sio = socketio.AsyncClient()
        self.bodies: list[str] = []
        self.arrived = asyncio.Event()
        self.sio.on(f"company-{company}-appMessage", self._on)

    def _on(self, data: dict[str, Any], *cursor: Any) -> None:
        self.bodies.append(str((data.get("message") or {}).get("body")))
        self.arrived.set()

    async def until(self, body: str) -> None:
        async with asyncio.timeout(30):
            while body not in self.bodies:
                self.arrived.clear()
                await self.arrived.wait()


async def test_sockets_in_whaticket_rooms_get_their_rooms_events(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    await asyncio.to_thread(api.deliver, [wa.text_message("a1")])
    await asyncio.to_thread(api.deliver, [wa.text_message("b1", sender="5511900000099")])
    tickets = await asyncio.to_thread(
        api.until, lambda: (t := api.tickets("pending")) and len(t) == 2 and t, "two tickets"
    )
    ticket_a = next(t["id"] for t in tickets if t["contactId"] == wa.CUSTOMER)
    # Read models come before events: the setup's events must be in the log before the
    # clients connect, or they would arrive live.
    await asyncio.to_thread(api.until, lambda: len(api.events()) >= 2, "the setup's events")
    chat, notified, plain = _Listener(company), _Listener(company), _Listener(company)
    for n, listener in enumerate((chat, notified, plain)):
        await listener.sio.connect(
            services.edge_url(n % 2),
            auth={"token": agent_token},
            transports=["websocket"],
            wait_timeout=10,
        )
    try:
        assert (await chat.sio.call("joinChatBox", ticket_a, timeout=10))["ok"] is True
        assert (await notified.sio.call("joinNotification", timeout=10))["ok"] is True
        await asyncio.to_thread(api.deliver, [wa.text_message("b2", sender="5511900000099")])
        await asyncio.to_thread(api.deliver, [wa.text_message("a2")])
        for listener in (chat, notified, plain):
            await listener.until("a2")  # the company's log is ordered: b2 came before a2
        assert chat.bodies == ["a2"]  # its ticket's room only
        assert notified.bodies == ["b2", "a2"]  # Whaticket's notification room: every message
        assert plain.bodies == ["b2", "a2"]  # joined nothing: every event of the company
    finally:
        for listener in (chat, notified, plain):
            await listener.sio.disconnect()


async def test_joins_at_once_all_count(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    """Whaticket front ends emit their joins together at page load. Each join checks and
    saves in turn; a ChatBox join waiting on its ticket check must not then drop the
    notification room joined meanwhile."""
    await asyncio.to_thread(api.deliver, [wa.text_message("a1")])
    ticket = await asyncio.to_thread(api.open_ticket)
    listener = _Listener(company)
    await listener.sio.connect(
        services.edge_url(0), auth={"token": agent_token}, transports=["websocket"], wait_timeout=10
    )
    try:
        chat_box, notification = await asyncio.gather(
            listener.sio.call("joinChatBox", ticket, timeout=10),
            listener.sio.call("joinNotification", timeout=10),
        )
        assert chat_box["ok"] is True
        assert notification["ok"] is True
        await asyncio.to_thread(api.deliver, [wa.text_message("b1", sender="5511900000098")])
        await listener.until("b1")  # another ticket's message: the notification room's
    finally:
        await listener.sio.disconnect()
