"""A test's view of the ingest HTTP API: signed webhooks in, read models and events out."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from tests.support import whatsapp as wa

SECRET = "integration-app-secret-0123456789"


class Api:
    """Calls one company's API with its agent token; `deliver` plays Meta."""

    def __init__(self, base_url: str, token: str, phone: str | None = None) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )
        self.phone = phone

    def close(self) -> None:
        self.http.close()

    def deliver(
        self,
        messages: Sequence[Any] = (),
        statuses: Sequence[Any] = (),
        contacts: Sequence[Any] | None = None,
    ) -> httpx.Response:
        """Post a signed webhook; `contacts` as in `wa.change` (None: a profile per sender)."""
        assert self.phone is not None
        body = json.dumps(wa.webhook(self.phone, list(messages), list(statuses), contacts)).encode()
        resp = self.http.post(
            "/webhooks/whatsapp",
            content=body,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": wa.sign(body, SECRET),
            },
        )
        assert resp.status_code == 200, resp.text
        return resp

    def open_ticket(self, body: str = "oi") -> str:
        """A customer writes in; returns the pending ticket the projector opened for it."""
        self.deliver([wa.text_message(body)])
        return str(self.until(lambda: self.tickets("pending"), "a ticket")[0]["id"])

    def send(self, ticket: str, body: str) -> str:
        """An agent's message on `ticket` under a fresh client id; returns its command id."""
        resp = self.http.post(
            f"/api/tickets/{ticket}/messages",
            json={"client_message_id": f"c-{uuid.uuid4().hex[:8]}", "body": body},
        )
        assert resp.status_code == 202, resp.text
        return str(resp.json()["command_id"])

    def message(self, ticket: str, message_id: str) -> dict[str, Any] | None:
        """The message as the API shows it now, or None."""
        page = self.get(f"/api/tickets/{ticket}/messages", limit=500)["messages"]
        return next((m for m in page if m["id"] == message_id), None)

    def get(self, path: str, **params: Any) -> Any:
        resp = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def tickets(self, status: str) -> list[dict[str, Any]]:
        return list(self.get("/api/tickets", status=status)["tickets"])

    def events(self, after: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Every event after `after`, following pages until `more` is false."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.get("/api/events", after=after, limit=limit)
            out += page["events"]
            after = page["next"]
            if not page["more"]:
                return out

    def until(self, probe: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        """Poll `probe` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            got = probe()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)
