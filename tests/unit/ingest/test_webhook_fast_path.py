"""The webhook's fast path on raw ASGI: the success answer FastAPI's route would give, a body
over the limit refused while it streams, and a client that leaves mid-body answered with
nothing and written nowhere."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import whatsapp as wa
from tidewire_ingest.command_log_memory import MemoryCommandLog
from tidewire_ingest.settings import IngestSettings
from tidewire_ingest.stores_memory import MemoryStores
from tidewire_ingest.webhook_fast_path import PATH, WebhookFastPath
from tidewire_platform.tenants import Connection
from tidewire_platform.tenants_memory import MemoryTenantStore

pytestmark = pytest.mark.unit

SECRET = "s3cret"
PHONE = "pn-fast"


def _tenants() -> MemoryTenantStore:
    return MemoryTenantStore(Connection("acme", PHONE, None, "v", SECRET))


async def _not_fastapi(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the webhook must not reach FastAPI")


def _app(
    log: MemoryCommandLog, limit: int = 3 * 1024 * 1024, tenants: MemoryTenantStore | None = None
) -> WebhookFastPath:
    state = SimpleNamespace(
        ingest_settings=IngestSettings(webhook_max_body_bytes=limit),
        stores=MemoryStores(tenants or _tenants()),
        command_log=log,
    )
    return WebhookFastPath(_not_fastapi, state)


async def _post(
    app: WebhookFastPath, chunks: list[bytes], headers: dict[str, str], disconnect: bool = False
) -> list[dict[str, Any]]:
    """Drive one request; the ASGI messages the app sent back."""
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1 or disconnect}
        for i, c in enumerate(chunks)
    ]
    if disconnect:
        incoming.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("ingest", 80),
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    return sent


def _signed() -> tuple[bytes, dict[str, str]]:
    body = json.dumps(wa.webhook(PHONE, messages=[wa.text_message()])).encode()
    return body, {"X-Hub-Signature-256": wa.sign(body, SECRET), "Content-Type": "application/json"}


async def test_accepted_answer_is_plain_json() -> None:
    log = MemoryCommandLog()
    body, headers = _signed()
    sent = await _post(_app(log), [body[:100], body[100:]], headers)
    start, answer = sent
    assert start["status"] == 200
    assert dict(start["headers"]) == {
        b"content-type": b"application/json",
        b"content-length": str(len(answer["body"])).encode(),
    }
    assert json.loads(answer["body"]) == {"accepted": 1, "dropped": []}
    assert [c.type for c in log.appended] == ["message.inbound"]


async def test_body_over_limit_refused_while_streaming() -> None:
    log = MemoryCommandLog()
    body, headers = _signed()
    sent = await _post(_app(log, limit=1024), [body, b" " * 1024], headers)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["title"] == "Payload too large"
    assert log.appended == []


async def test_client_leaving_mid_body_gets_nothing_and_writes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = MemoryCommandLog()
    body, headers = _signed()
    with caplog.at_level(logging.ERROR):
        sent = await _post(_app(log), [body[:100]], headers, disconnect=True)
    assert sent == []
    assert log.appended == []
    assert caplog.records == []


async def test_odd_content_length_is_not_trusted_nor_a_500() -> None:
    log = MemoryCommandLog()
    body, headers = _signed()
    sent = await _post(_app(log), [body], {**headers, "Content-Length": "\u00b2"})
    assert sent[0]["status"] == 200
    assert len(log.appended) == 1


async def test_a_phone_id_that_cannot_be_ours_is_unknown_without_a_lookup() -> None:
    """An id outside the id pattern (here 65 KB: Cassandra refuses such keys, which was a
    500) is answered as an unknown number (like a bad signature) before any store is asked."""
    log = MemoryCommandLog()
    huge = "9" * 65_000
    body = json.dumps(wa.webhook(huge, messages=[wa.text_message()])).encode()
    headers = {"X-Hub-Signature-256": wa.sign(body, SECRET), "Content-Type": "application/json"}
    tenants = _tenants()
    sent = await _post(_app(log, tenants=tenants), [body], headers)
    assert sent[0]["status"] == 401
    assert json.loads(sent[1]["body"])["title"] == "Bad signature"
    assert tenants.asked == []
    assert log.appended == []
