"""Customers writing in and an official socket.io client watching: the recovery tests' cast."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support import whatsapp as wa
from tests.support.api import Api
from tests.support.jsclient import JsClient


class Chat:
    """The customer side: writes messages and knows when they are in the events log."""

    def __init__(self, api: Api, company: str) -> None:
        self.api = api
        self.name = f"company-{company}-appMessage"
        self.sent: list[str] = []

    async def say(self, *bodies: str) -> None:
        await asyncio.to_thread(self.api.deliver, [wa.text_message(b) for b in bodies])
        self.sent += bodies
        want = len(self.sent)
        await asyncio.to_thread(
            self.api.until, lambda: self.logged() >= want, f"{want} customer messages in the log"
        )

    def logged(self) -> int:
        """The customers' messages in the company's events log. Not every event: an agent's
        message and its status updates are events too, and counting them would return from
        `say` before its messages are in the log."""
        return sum(
            e["type"] == "message.created" and not e["payload"]["message"]["fromMe"]
            for e in self.api.events()
        )

    async def received_all(self, js: JsClient, within: float = 20) -> list[str]:
        want = len(self.sent)
        await js.wait_for(lambda _: len(js.bodies(self.name)) >= want, within, f"{want} events")
        return js.bodies(self.name)


async def open_client(url: str, token: str, **auth: Any) -> JsClient:
    js = await JsClient.connect(url, auth={"token": token, **auth})
    await js.nth_connect(1)
    return js


async def reconnect(js: JsClient, n: int) -> dict[str, Any]:
    """Reconnect after a drop; returns the n-th connect happening."""
    await js.send("connect")
    return await js.nth_connect(n)
