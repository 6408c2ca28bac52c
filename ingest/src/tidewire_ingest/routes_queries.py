"""The query API: read models of the caller's company, and its events after a cursor.

Every route is scoped by the company of the JWT; a ticket of another company is simply not
found (404), so ids of other tenants cannot even be probed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Query
from pydantic import BaseModel

from tidewire_ingest.deps import Agent, Events, IngestConf, Queries
from tidewire_ingest.problems import COMMON, Problem, documented, unavailable
from tidewire_platform.cursor import Cursor, CursorError
from tidewire_platform.events_log import ForeignCursor, StaleCursor
from tidewire_platform.read_models import BadPageCursor
from tidewire_platform.readmodel import Contact, Message, Ticket, TicketStatus

router = APIRouter(prefix="/api", tags=["queries"], responses=COMMON)

_UNAVAILABLE = documented(r503="Cassandra or Kafka did not answer; retry (Retry-After)")
_BIGINT = 2**63 - 1  # message positions are Cassandra bigints
# aiokafka waits for a broker that went away (metadata retries, 40 s request timeouts): a
# read of the log that takes longer than this is answered 503 instead of hanging (which
# also kept a stopping ingest waiting for the request).
LOG_READ_TIMEOUT_S = 8.0
T = TypeVar("T")


async def _from_log(read: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(read, LOG_READ_TIMEOUT_S)
    except (TimeoutError, KafkaError) as exc:
        raise unavailable("Log unavailable", "Kafka did not answer; retry later", exc) from exc


class TicketList(BaseModel):
    tickets: list[Ticket]
    next: str | None


class TicketView(BaseModel):
    ticket: Ticket
    contact: Contact | None


class MessageList(BaseModel):
    messages: list[Message]
    before: int | None  # pass as ?before= for older messages
    after: int | None  # pass as ?after= for newer messages


class EventList(BaseModel):
    events: list[dict[str, Any]]
    next: str | None
    more: bool


class Head(BaseModel):
    cursor: str | None  # null: the log is empty, and `?after=` may be left out


@router.get(
    "/tickets",
    response_model=TicketList,
    response_model_by_alias=True,
    responses=documented(r400="not a page cursor of this API") | _UNAVAILABLE,
)
async def list_tickets(
    agent: Agent,
    queries: Queries,
    status: TicketStatus = "open",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketList:
    """Tickets of one status, newest activity first; follow `next` for the following page
    (an empty `cursor=` is the first page)."""
    try:
        page = await queries.tickets(agent.company_id, status, cursor or None, limit)
    except BadPageCursor as exc:
        raise Problem(400, "Bad cursor", str(exc)) from exc
    return TicketList(tickets=page.tickets, next=page.next)


async def _ticket(agent: Agent, queries: Queries, ticket_id: str) -> Ticket:
    ticket = await queries.ticket(agent.company_id, ticket_id)
    if ticket is None:
        raise Problem(404, "Ticket not found", f"no ticket {ticket_id!r} in your company")
    return ticket


@router.get(
    "/tickets/{ticket_id}",
    response_model=TicketView,
    responses=documented(r404="no such ticket in the caller's company") | _UNAVAILABLE,
)
async def get_ticket(ticket_id: str, agent: Agent, queries: Queries) -> TicketView:
    ticket = await _ticket(agent, queries, ticket_id)
    return TicketView(
        ticket=ticket, contact=await queries.contact(agent.company_id, ticket.contact_id)
    )


@router.get(
    "/tickets/{ticket_id}/messages",
    response_model=MessageList,
    responses=documented(r404="no such ticket in the caller's company") | _UNAVAILABLE,
)
async def list_messages(
    ticket_id: str,
    agent: Agent,
    queries: Queries,
    before: Annotated[int | None, Query(ge=0, le=_BIGINT)] = None,
    after: Annotated[int | None, Query(ge=-1, le=_BIGINT)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> MessageList:
    """Messages in conversation order. No position: the newest `limit`; `before=`: older
    ones; `after=`: newer ones (positions come from `before`/`after` of a previous page)."""
    if before is not None and after is not None:
        raise Problem(400, "Bad paging", "give either before or after, not both")
    await _ticket(agent, queries, ticket_id)
    messages = await queries.messages(agent.company_id, ticket_id, before, after, limit)
    return MessageList(
        messages=messages,
        before=messages[0].position if messages else before,
        after=messages[-1].position if messages else after,
    )


@router.get("/events/head", response_model=Head, responses=_UNAVAILABLE)
async def events_head(agent: Agent, events: Events) -> Head:
    """Where the company's log ends now. Take it before loading snapshots (tickets,
    messages), then follow `/api/events?after=` (or a socket's `auth.lastEventId`) from it:
    every change made after the snapshots is then delivered (some before it may come again)."""
    head = await _from_log(events.head(agent.company_id))
    return Head(cursor=head.encode() if head else None)


@router.get(
    "/events",
    response_model=EventList,
    responses=documented(
        r400="not a cursor of this API (or malformed JSON)",
        r410="cursor older than retention or from an earlier log: resync",
    )
    | _UNAVAILABLE,
)
async def list_events(
    agent: Agent,
    events: Events,
    conf: IngestConf,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventList:
    """The company's events after `after`, in log order. `more` is true when the log holds
    more (a page stops at `limit` events or at TIDEWIRE_INGEST_EVENTS_PAGE_BYTES bytes): ask
    again with `after=next`. Without `after` (or empty), the page starts among the newest
    records of the log (TIDEWIRE_INGEST_EVENTS_WINDOW of them), not at its oldest: for the
    whole history, take `/api/events/head` first and follow `after=` from it."""
    cursor = None
    if after:
        try:
            cursor = Cursor.decode(after)
        except CursorError as exc:
            raise Problem(400, "Bad cursor", f"after: {exc}") from exc
    try:
        if cursor is None:
            cursor = await _from_log(events.window_start(agent.company_id, conf.events_window))
        page = await _from_log(
            events.page(agent.company_id, cursor, limit, max_bytes=conf.events_page_bytes)
        )
    except StaleCursor as exc:
        raise Problem(410, "Resync required", str(exc)) from exc
    except ForeignCursor as exc:
        raise Problem(400, "Bad cursor", f"after: {exc}") from exc
    return EventList(
        events=[e.model_dump(mode="json") for e in page.events],
        next=page.next.encode() if page.next else None,
        more=page.more,
    )
