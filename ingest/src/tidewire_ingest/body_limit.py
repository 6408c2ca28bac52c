"""The configured body limit for every route, answered with a 413 problem document.

The webhook reads its body with the limit itself (`body.read_limited`, on its hot path); every
other route is FastAPI's, which would buffer any size. Written by hand: FastAPI's own
`max_body_size` answers with its default `{"detail": ...}` body, not an RFC 9457 problem
document, and this is a few lines of ASGI.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidewire_ingest.body import content_length
from tidewire_ingest.problems import problem_response
from tidewire_ingest.webhook_fast_path import PATH as WEBHOOK_PATH


class BodyLimit:
    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state  # the FastAPI app's state: its ingest settings hold the limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == WEBHOOK_PATH:
            await self.app(scope, receive, send)
            return
        limit: int = self.state.ingest_settings.max_body_bytes
        declared = content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, f"body of {declared} bytes exceeds {limit}")
            return
        # Read the whole body here (it is small, or refused): the route then gets it at once.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the route sees the same
            size += len(message.get("body", b""))
            if size > limit:
                await self._refuse(scope, receive, send, f"body exceeds {limit} bytes")
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        response = problem_response(Request(scope, receive), 413, "Payload too large", detail)
        await response(scope, receive, send)
