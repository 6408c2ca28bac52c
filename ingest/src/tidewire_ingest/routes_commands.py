"""Agent commands: the browser's intentions, made durable before they are acknowledged."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tidewire_ingest.accept import accept
from tidewire_ingest.deps import Agent, Commands
from tidewire_platform.contracts import Command, stable_id

router = APIRouter(prefix="/api", tags=["commands"])

_ID = r"^[A-Za-z0-9._:-]{1,64}$"


class SendMessage(BaseModel):
    client_message_id: str = Field(pattern=_ID, description="idempotency key chosen by the client")
    body: str = Field(min_length=1, max_length=4096)


class Accepted(BaseModel):
    command_id: str
    ticket_id: str


@router.post("/tickets/{ticket_id}/messages", status_code=202, response_model=Accepted)
async def send_message(ticket_id: str, body: SendMessage, agent: Agent, log: Commands) -> Accepted:
    """Queue an agent's message. Same `client_message_id` → same command id (retries dedupe)."""
    command = Command(
        id=stable_id(agent.company_id, "client-message", body.client_message_id),
        type="message.send",
        company_id=agent.company_id,
        ticket_id=ticket_id,
        payload={
            "client_message_id": body.client_message_id,
            "body": body.body,
            "user_id": agent.user_id,
        },
    )
    await accept(log, [command])
    return Accepted(command_id=command.id, ticket_id=ticket_id)
