"""The ingest floor answers as ingest does on success, whatever the body, without Kafka."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tidewire_deploy.bench_ingest_floor import Floor
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit


async def test_answers_200_after_reading_the_whole_body() -> None:
    incoming = [
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await Floor(StackSettings(), kafka=False)({"type": "http"}, receive, send)
    assert incoming == []
    start, body = sent
    assert start["status"] == 200
    assert dict(start["headers"])[b"content-length"] == str(len(body["body"])).encode()
    assert json.loads(body["body"]) == {"accepted": 1, "dropped": []}
