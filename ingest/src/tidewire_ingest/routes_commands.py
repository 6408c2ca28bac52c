"""Agent commands: the browser's intentions, made durable before they are acknowledged.

Each route first checks that the ticket exists in the caller's company (404 otherwise, so a
ticket of another tenant is indistinguishable from none). The check reads the read model, so a
ticket created a moment ago may not be visible yet; clients retry 404 on a fresh ticket.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from tidewire_ingest.accept import accept
from tidewire_ingest.deps import Agent, Commands, Queries
from tidewire_ingest.problems import COMMON, Problem, documented
from tidewire_platform import limits
from tidewire_platform.contracts import (
    ID_PATTERN,
    USER_ID_PATTERN,
    Command,
    CommandType,
    stable_id,
)
from tidewire_platform.readmodel import TicketStatus

router = APIRouter(prefix="/api", tags=["commands"], responses=COMMON)

_ERRORS = documented(
    r404="no such ticket in the caller's company",
    r503="Kafka or Cassandra did not answer: nothing accepted, retry (Retry-After)",
)


class SendMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored

    client_message_id: str = Field(
        pattern=ID_PATTERN, description="idempotency key chosen by the client"
    )
    # WhatsApp's own limit for a text message (limits.TEXT_BODY_CHARS): over it, a 422 naming
    # `body` and the bound, rather than a message Graph would refuse.
    body: str = Field(min_length=1, max_length=limits.TEXT_BODY_CHARS)


class UpdateTicket(BaseModel):
    """Only the fields present change; `user_id`/`queue_id` null unassigns. Whaticket's
    camelCase names (`userId`, `queueId`) are accepted too."""

    # A misspelt field (`asignee`) is a 422 naming it: ignored, the change would be lost.
    # Whaticket's ids are numbers (`userId: 3`): taken as their text.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True)

    status: TicketStatus | None = None
    user_id: str | None = Field(
        default=None, pattern=USER_ID_PATTERN, validation_alias=AliasChoices("user_id", "userId")
    )
    queue_id: str | None = Field(
        default=None, pattern=ID_PATTERN, validation_alias=AliasChoices("queue_id", "queueId")
    )
    client_command_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="optional idempotency key"
    )

    @model_validator(mode="after")
    def _something(self) -> UpdateTicket:
        if not self.model_fields_set - {"client_command_id"}:
            raise ValueError("give at least one of status, user_id, queue_id")
        if "status" in self.model_fields_set and self.status is None:
            raise ValueError("status cannot be null")
        return self


class WhaticketTicketUpdate(UpdateTicket):
    """The same change as sent by Whaticket front ends (PUT), which add fields of their own
    that mean nothing here (`useIntegration`, `promptId`, …): those are ignored."""

    model_config = ConfigDict(extra="ignore")  # the rest is UpdateTicket's


class Accepted(BaseModel):
    command_id: str
    ticket_id: str


async def _submit(
    agent: Agent,
    log: Commands,
    queries: Queries,
    ticket_id: str,
    type_: CommandType,
    command_id: str,
    payload: dict[str, Any],
) -> Accepted:
    if await queries.ticket(agent.company_id, ticket_id) is None:
        raise Problem(404, "Ticket not found", f"no ticket {ticket_id!r} in your company")
    command = Command(
        id=command_id,
        type=type_,
        company_id=agent.company_id,
        ticket_id=ticket_id,
        payload={**payload, "user_id_by": agent.user_id},
    )
    await accept(log, [command])
    return Accepted(command_id=command.id, ticket_id=ticket_id)


@router.post(
    "/tickets/{ticket_id}/messages", status_code=202, response_model=Accepted, responses=_ERRORS
)
async def send_message(
    ticket_id: str, body: SendMessage, agent: Agent, log: Commands, queries: Queries
) -> Accepted:
    """Queue an agent's message. Same ticket and `client_message_id` → same command id
    (retries dedupe); the key is scoped to the ticket, so a client that numbers its messages
    per conversation never has a message to another ticket discarded as a retry."""
    return await _submit(
        agent,
        log,
        queries,
        ticket_id,
        "message.send",
        stable_id(agent.company_id, "client-message", ticket_id, body.client_message_id),
        {"client_message_id": body.client_message_id, "body": body.body, "user_id": agent.user_id},
    )


@router.patch("/tickets/{ticket_id}", status_code=202, response_model=Accepted, responses=_ERRORS)
async def update_ticket(
    ticket_id: str, body: UpdateTicket, agent: Agent, log: Commands, queries: Queries
) -> Accepted:
    """Change status, assignee or queue."""
    return await _update(ticket_id, body, agent, log, queries)


@router.put(
    "/tickets/{ticket_id}",
    status_code=202,
    response_model=Accepted,
    responses=_ERRORS,
    include_in_schema=False,  # Whaticket front ends use PUT for the same change
)
async def update_ticket_whaticket(
    ticket_id: str, body: WhaticketTicketUpdate, agent: Agent, log: Commands, queries: Queries
) -> Accepted:
    return await _update(ticket_id, body, agent, log, queries)


async def _update(
    ticket_id: str, body: UpdateTicket, agent: Agent, log: Commands, queries: Queries
) -> Accepted:
    key = body.client_command_id or uuid.uuid4().hex
    changes = body.model_dump(include=body.model_fields_set - {"client_command_id"})
    return await _submit(
        agent,
        log,
        queries,
        ticket_id,
        "ticket.update",
        stable_id(agent.company_id, "ticket-update", ticket_id, key),
        changes,
    )


@router.post(
    "/tickets/{ticket_id}/read", status_code=202, response_model=Accepted, responses=_ERRORS
)
async def mark_read(ticket_id: str, agent: Agent, log: Commands, queries: Queries) -> Accepted:
    """The agent read the ticket: its unread counter goes back to zero."""
    return await _submit(
        agent,
        log,
        queries,
        ticket_id,
        "ticket.read",
        stable_id(agent.company_id, "ticket-read", ticket_id, uuid.uuid4().hex),
        {},
    )
