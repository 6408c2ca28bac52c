"""Ingest → Kafka: durable before 2xx, keyed and partitioned by company, idempotent ids."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.api import Api
from tests.support.kafka import PartitionReader
from tests.support.stack import Services
from tidewire_platform.contracts import Command
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.integration


async def test_commands_land_once_on_the_company_partition(
    services: Services, company: str, agent_token: str, api: Api
) -> None:
    s = services.settings
    ticket = await asyncio.to_thread(api.open_ticket)
    body = {"client_message_id": "m-1", "body": "olá"}
    headers = {"Authorization": f"Bearer {agent_token}"}
    async with PartitionReader(s, s.commands_topic, company) as reader:
        async with httpx.AsyncClient(
            base_url=services.ingest_url, headers=headers, timeout=15
        ) as http:
            first = await http.post(f"/api/tickets/{ticket}/messages", json=body)
            again = await http.post(f"/api/tickets/{ticket}/messages", json=body)
            update = await http.patch(
                f"/api/tickets/{ticket}",
                json={"status": "open", "user_id": "agent-1", "client_command_id": "u-1"},
            )
            read = await http.post(f"/api/tickets/{ticket}/read")
        assert first.status_code == again.status_code == update.status_code == 202
        assert read.status_code == 202
        assert first.json()["command_id"] == again.json()["command_id"]
        records = await reader.read(4)
        records += await reader.settle()
    assert {r.key for r in records} == {company.encode()}
    # The outbound sender adds its own message.dispatched once the fake Graph API accepted.
    commands = [
        c for c in (Command.from_bytes(r.value) for r in records) if c.type != "message.dispatched"
    ]
    assert len(commands) == 4
    # A retry is appended again but carries the same id: the projector dedupes on it.
    assert {c.id for c in commands[:2]} == {first.json()["command_id"]}
    assert commands[0].payload["body"] == "olá"
    assert (commands[2].type, commands[2].payload["status"]) == ("ticket.update", "open")
    assert commands[2].id == update.json()["command_id"]
    assert commands[3].type == "ticket.read"
    assert {c.ticket_id for c in commands} == {ticket}


async def test_refusals_are_problem_documents_and_write_nothing(
    services: Services, company: str, agent_token: str
) -> None:
    s = services.settings
    async with PartitionReader(s, s.commands_topic, company) as reader:
        async with httpx.AsyncClient(base_url=services.ingest_url, timeout=15) as http:
            no_auth = await http.post(
                "/api/tickets/t/messages", json={"client_message_id": "x", "body": "b"}
            )
            bad_body = await http.post(
                "/api/tickets/t/messages",
                json={"body": ""},
                headers={"Authorization": f"Bearer {agent_token}"},
            )
            unknown = await http.post(
                "/api/tickets/no-such-ticket/messages",
                json={"client_message_id": "x", "body": "b"},
                headers={"Authorization": f"Bearer {agent_token}"},
            )
            tokens = {
                "wrong-secret": issue_token(StackSettings(jwt_secret="w" * 40), company, "a"),
                "expired": issue_token(s, company, "agent-1", ttl=-5),
                "not-a-jwt": "not.a.jwt",
            }
            refused_tokens = {
                name: await http.post(
                    "/api/tickets/t/messages",
                    json={"client_message_id": "x", "body": "b"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for name, token in tokens.items()
            }
            auth = {"Authorization": f"Bearer {agent_token}", "content-type": "application/json"}
            malformed = await http.post(
                "/api/tickets/t/messages", content=b'{"client_message_id": ', headers=auth
            )
            too_deep = await http.post(
                "/api/tickets/t/messages", content=b"[" * 100_000 + b"]" * 100_000, headers=auth
            )
            big = {"client_message_id": "x", "body": "x" * (1024 * 1024 + 1)}
            too_large = await http.post("/api/tickets/t/messages", json=big, headers=auth)

            async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as read
                for _ in range(1100):
                    yield b" " * 1024

            too_large_chunked = await http.post(
                "/api/tickets/t/messages", content=chunks(), headers=auth
            )
        leftovers = await reader.settle(quiet_s=1.0)
    assert no_auth.status_code == 401
    assert no_auth.headers["content-type"] == "application/problem+json"
    assert bad_body.status_code == 422
    assert "client_message_id" in bad_body.json()["detail"]
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    for name, resp in refused_tokens.items():
        assert resp.status_code == 401, name
        assert resp.headers["content-type"] == "application/problem+json"
    assert "expired" in refused_tokens["expired"].json()["detail"]
    for resp, status in (
        (malformed, 400),
        (too_deep, 400),
        (too_large, 413),
        (too_large_chunked, 413),
    ):
        assert (resp.status_code, resp.json()["status"]) == (status, status), resp.text
        assert resp.headers["content-type"] == "application/problem+json"
    assert malformed.json()["title"] == "Malformed JSON"
    assert leftovers == []
