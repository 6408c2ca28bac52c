"""Agent commands: the browser's intentions, made durable before they are acknowledged.

Each route first checks that the ticket exists in the caller's company (404 otherwise, so a
ticket of another tenant is indistinguishable from none). The check reads the read model, so a
ticket created a moment ago may not be visible yet; clients retry 404 on a fresh ticket. A
send, which needs only the ticket's existence, reads it once per ticket (`tickets_known`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from tidewire_ingest.accept import accept
from tidewire_ingest.deps import Agent, Commands, Known, Queries
from tidewire_ingest.problems import COMMON, Problem, documented
from tidewire_platform import limits
from tidewire_platform.contracts import (
    ID_PATTERN,
    USER_ID_PATTERN,
    Command,
    CommandType,
    stable_id,
)
from tidewire_platform.readmodel import Ticket, TicketStatus

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
        default=None,
        pattern=ID_PATTERN,
        description="optional idempotency key (or the Idempotency-Key header); when neither "
        "is given, the key derives from the change and the ticket as ingest reads it",
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


# A client's key for a change or a read, as the IETF's Idempotency-Key header (the body's
# `client_command_id` of a PATCH says the same and wins).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=ID_PATTERN,
        description="optional idempotency key: the same key on the same ticket is one command; "
        "without one, the key derives from the request and the ticket as ingest reads it",
    ),
]


def _derived(*parts: str) -> Callable[[Ticket], str]:
    """A command id for a request without a client key: the same request by the same agent
    against the same ticket state (the whole document as ingest reads it) is the same
    command, so a retry, a double click or a resend after a 503 is deduplicated downstream,
    while the same request after the ticket changed is a new command. The `~` keeps it apart
    from every client key (`ID_PATTERN` has none)."""
    return lambda ticket: stable_id(*parts, "~derived", ticket.to_json())


def _no_ticket(ticket_id: str) -> Problem:
    return Problem(404, "Ticket not found", f"no ticket {ticket_id!r} in your company")


async def _submit(
    agent: Agent,
    log: Commands,
    queries: Queries,
    ticket_id: str,
    type_: CommandType,
    command_id: str | Callable[[Ticket], str],
    payload: dict[str, Any],
) -> Accepted:
    ticket = await queries.ticket(agent.company_id, ticket_id)
    if ticket is None:
        raise _no_ticket(ticket_id)
    the_id = command_id if isinstance(command_id, str) else command_id(ticket)
    return await _append(agent, log, ticket_id, type_, the_id, payload)


async def _append(
    agent: Agent,
    log: Commands,
    ticket_id: str,
    type_: CommandType,
    command_id: str,
    payload: dict[str, Any],
) -> Accepted:
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
    ticket_id: str,
    body: SendMessage,
    agent: Agent,
    log: Commands,
    queries: Queries,
    known: Known,
) -> Accepted:
    """Queue an agent's message. Same ticket and `client_message_id` → same command id
    (retries dedupe); the key is scoped to the ticket, so a client that numbers its messages
    per conversation never has a message to another ticket discarded as a retry."""
    if not await known.exists(queries, agent.company_id, ticket_id):
        raise _no_ticket(ticket_id)
    return await _append(
        agent,
        log,
        ticket_id,
        "message.send",
        stable_id(agent.company_id, "client-message", ticket_id, body.client_message_id),
        {"client_message_id": body.client_message_id, "body": body.body, "user_id": agent.user_id},
    )


@router.patch("/tickets/{ticket_id}", status_code=202, response_model=Accepted, responses=_ERRORS)
async def update_ticket(
    ticket_id: str,
    body: UpdateTicket,
    agent: Agent,
    log: Commands,
    queries: Queries,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Change status, assignee or queue. Deduplicated by `client_command_id`, the
    Idempotency-Key header, or (neither given) the change and the ticket it was made on."""
    return await _update(ticket_id, body, agent, log, queries, idempotency_key)


@router.put(
    "/tickets/{ticket_id}",
    status_code=202,
    response_model=Accepted,
    responses=_ERRORS,
    include_in_schema=False,  # Whaticket front ends use PUT for the same change
)
async def update_ticket_whaticket(
    ticket_id: str,
    body: WhaticketTicketUpdate,
    agent: Agent,
    log: Commands,
    queries: Queries,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    return await _update(ticket_id, body, agent, log, queries, idempotency_key)


async def _update(
    ticket_id: str,
    body: UpdateTicket,
    agent: Agent,
    log: Commands,
    queries: Queries,
    idempotency_key: str | None,
) -> Accepted:
    changes = body.model_dump(include=body.model_fields_set - {"client_command_id"})
    key = body.client_command_id or idempotency_key
    scope = (agent.company_id, "ticket-update", ticket_id)
    command_id = (
        stable_id(*scope, key)
        if key
        else _derived(*scope, agent.user_id, json.dumps(changes, sort_keys=True))
    )
    return await _submit(agent, log, queries, ticket_id, "ticket.update", command_id, changes)


@router.post(
    "/tickets/{ticket_id}/read", status_code=202, response_model=Accepted, responses=_ERRORS
)
async def mark_read(
    ticket_id: str,
    agent: Agent,
    log: Commands,
    queries: Queries,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """The agent read the ticket: its unread counter goes back to zero. Deduplicated by the
    Idempotency-Key header or (none given) the ticket as read: a repeat before anything new
    arrived is the same command."""
    scope = (agent.company_id, "ticket-read", ticket_id)
    command_id = (
        stable_id(*scope, idempotency_key) if idempotency_key else _derived(*scope, agent.user_id)
    )
    return await _submit(agent, log, queries, ticket_id, "ticket.read", command_id, {})
