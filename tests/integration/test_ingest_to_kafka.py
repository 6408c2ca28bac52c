"""Ingest → Kafka: durable before 2xx, keyed and partitioned by company, idempotent ids."""

import httpx
import pytest

from tests.support.kafka import PartitionReader
from tests.support.stack import Services
from tidewire_platform.contracts import Command

pytestmark = pytest.mark.integration


async def test_command_lands_once_on_the_company_partition(
    services: Services, company: str, agent_token: str
) -> None:
    s = services.settings
    body = {"client_message_id": "m-1", "body": "olá"}
    headers = {"Authorization": f"Bearer {agent_token}"}
    async with PartitionReader(s, s.commands_topic, company) as reader:
        async with httpx.AsyncClient(base_url=services.ingest_url) as http:
            first = await http.post("/api/tickets/t-1/messages", json=body, headers=headers)
            again = await http.post("/api/tickets/t-1/messages", json=body, headers=headers)
        assert first.status_code == again.status_code == 202
        assert first.json()["command_id"] == again.json()["command_id"]
        records = await reader.read(2)
    assert [r.key for r in records] == [company.encode()] * 2
    commands = [Command.from_bytes(r.value) for r in records]
    # A retry is appended again but carries the same id: the projector dedupes on it.
    assert {c.id for c in commands} == {first.json()["command_id"]}
    assert commands[0].payload["body"] == "olá"


async def test_refusals_are_problem_documents_and_write_nothing(
    services: Services, company: str, agent_token: str
) -> None:
    s = services.settings
    async with PartitionReader(s, s.commands_topic, company) as reader:
        async with httpx.AsyncClient(base_url=services.ingest_url) as http:
            no_auth = await http.post(
                "/api/tickets/t/messages", json={"client_message_id": "x", "body": "b"}
            )
            bad_body = await http.post(
                "/api/tickets/t/messages",
                json={"body": ""},
                headers={"Authorization": f"Bearer {agent_token}"},
            )
        leftovers = await reader.settle(quiet_s=1.0)
    assert no_auth.status_code == 401
    assert no_auth.headers["content-type"] == "application/problem+json"
    assert bad_body.status_code == 422
    assert "client_message_id" in bad_body.json()["detail"]
    assert leftovers == []
