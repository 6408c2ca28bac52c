"""Request dependencies: who is calling (from the JWT) and where commands go.

All are `async def` although none awaits: FastAPI runs a plain `def` dependency in a worker
thread, and two thread hops per request were a tenth of ingest's CPU under load."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tidewire_ingest.command_log import CommandLog
from tidewire_ingest.problems import Problem
from tidewire_ingest.settings import IngestSettings
from tidewire_ingest.tickets_known import KnownTickets
from tidewire_platform.events_log import EventsLog
from tidewire_platform.read_models import ReadModelReader
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import TenantStore
from tidewire_platform.tokens import (
    AdminDisabled,
    Principal,
    Publisher,
    TokenError,
    verify_admin_token,
    verify_publisher_token,
    verify_token,
)

_bearer = HTTPBearer(auto_error=False)


def _settings(request: Request) -> StackSettings:
    settings: StackSettings = request.app.state.settings
    return settings


async def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    try:
        return verify_token(_settings(request), creds.credentials if creds else None)
    except TokenError as exc:
        raise Problem(
            401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc


async def command_log(request: Request) -> CommandLog:
    log: CommandLog = request.app.state.command_log
    return log


async def admin(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """An operator: a token signed with the admin key. A valid agent token is a 403 (the
    caller is known, not allowed); anything else a 401."""
    settings = _settings(request)
    token = creds.credentials if creds else None
    try:
        return verify_admin_token(settings, token)
    except AdminDisabled as exc:
        raise Problem(403, "Forbidden", str(exc)) from exc
    except TokenError as exc:
        try:
            verify_token(settings, token)
        except TokenError:
            raise Problem(
                401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from exc
        raise Problem(403, "Forbidden", "tenant administration needs an admin token") from exc


async def publisher(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Publisher:
    """A helpdesk backend (`tidewire token --publisher`); agent tokens cannot publish."""
    try:
        return verify_publisher_token(_settings(request), creds.credentials if creds else None)
    except TokenError as exc:
        raise Problem(
            401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc


Agent = Annotated[Principal, Depends(principal)]
PublisherOf = Annotated[Publisher, Depends(publisher)]
Admin = Annotated[Principal, Depends(admin)]
Commands = Annotated[CommandLog, Depends(command_log)]


async def ingest_settings(request: Request) -> IngestSettings:
    conf: IngestSettings = request.app.state.ingest_settings
    return conf


async def tenant_store(request: Request) -> TenantStore:
    store: TenantStore = await request.app.state.stores.tenants()
    return store


async def read_models(request: Request) -> ReadModelReader:
    queries: ReadModelReader = await request.app.state.stores.read_models()
    return queries


async def known_tickets(request: Request) -> KnownTickets:
    known: KnownTickets = request.app.state.known_tickets
    return known


async def events_log(request: Request) -> EventsLog:
    log: EventsLog = await request.app.state.events.get()
    return log


IngestConf = Annotated[IngestSettings, Depends(ingest_settings)]
Tenants = Annotated[TenantStore, Depends(tenant_store)]
Queries = Annotated[ReadModelReader, Depends(read_models)]
Events = Annotated[EventsLog, Depends(events_log)]
Known = Annotated[KnownTickets, Depends(known_tickets)]
