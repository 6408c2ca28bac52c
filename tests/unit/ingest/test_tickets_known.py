"""An agent's send reads its ticket once: a ticket found stays found (tickets are never
deleted nor moved to another company), a ticket not found is read again next time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from cassandra import OperationTimedOut

from tidewire_ingest.app import create_app
from tidewire_ingest.command_log_memory import MemoryCommandLog
from tidewire_ingest.stores_memory import MemoryStores
from tidewire_platform.readmodel import Ticket
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.unit


@dataclass
class Ingest:
    http: httpx.AsyncClient
    stores: MemoryStores
    log: MemoryCommandLog

    async def send(self, ticket_id: str, client_id: str, company: str = "acme") -> int:
        token = issue_token(StackSettings(), company, "u1")
        resp = await self.http.post(
            f"/api/tickets/{ticket_id}/messages",
            json={"client_message_id": client_id, "body": "olá"},
            headers={"Authorization": f"Bearer {token}"},
        )
        return resp.status_code


@pytest.fixture
async def ingest() -> AsyncIterator[Ingest]:
    app = create_app()
    stores, log = MemoryStores(), MemoryCommandLog()
    app.state.stores, app.state.command_log = stores, log
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        yield Ingest(http, stores, log)


def _ticket(ticket_id: str, company: str = "acme") -> Ticket:
    return Ticket(
        id=ticket_id,
        company_id=company,
        contact_id="5511",
        whatsapp_id="pn-1",
        created_at=1,
        updated_at=1,
    )


async def test_a_ticket_found_once_is_not_read_again(ingest: Ingest) -> None:
    ingest.stores.read_model_reader.put(_ticket("t1"))
    assert await ingest.send("t1", "m1") == 202
    # The read models stop answering: a send to the ticket already found needs no read.
    ingest.stores.failing(OperationTimedOut(errors={}, last_host="127.0.0.1:9042"))
    assert await ingest.send("t1", "m2") == 202
    assert await ingest.send("t2", "m3") == 503  # never found: it has to be read
    assert [c.payload["client_message_id"] for c in ingest.log.of("acme")] == ["m1", "m2"]


async def test_a_ticket_not_found_is_read_again_and_another_company_never_shares_it(
    ingest: Ingest,
) -> None:
    assert await ingest.send("t1", "m1") == 404
    ingest.stores.read_model_reader.put(_ticket("t1"))  # the projector wrote it since
    assert await ingest.send("t1", "m2") == 202
    assert await ingest.send("t1", "m3", company="other") == 404  # found for acme only
