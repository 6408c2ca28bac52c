"""Cassandra failing after ingest connected (a timeout, a node down) is a retryable 503 with
a problem document, on the webhook fast path and on FastAPI's routes alike, never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cassandra import OperationTimedOut

from tests.support import whatsapp as wa
from tidewire_ingest.app import create_app
from tidewire_ingest.stores_memory import MemoryStores
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.unit


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()
    stores = MemoryStores()
    stores.failing(OperationTimedOut(errors={}, last_host="127.0.0.1:9042"))  # the driver's
    app.state.stores = stores
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        yield http


def _assert_retryable(resp: Any) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["retry-after"] == "5"
    assert "Cassandra" in resp.json()["detail"]


async def test_webhook(client: httpx.AsyncClient) -> None:
    body = json.dumps(wa.webhook("pn-1", messages=[wa.text_message()])).encode()
    headers = {"X-Hub-Signature-256": wa.sign(body, "whatever"), "Content-Type": "application/json"}
    _assert_retryable(await client.post("/webhooks/whatsapp", content=body, headers=headers))


async def test_query_api(client: httpx.AsyncClient) -> None:
    token = issue_token(StackSettings(), "acme", "u1")
    resp = await client.get("/api/tickets", headers={"Authorization": f"Bearer {token}"})
    _assert_retryable(resp)
