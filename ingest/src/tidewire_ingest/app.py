"""The ingest HTTP application (FastAPI): webhooks, agent commands, queries, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from tidewire_ingest import problems
from tidewire_ingest.body_limit import BodyLimit
from tidewire_ingest.command_log_kafka import KafkaCommandLog
from tidewire_ingest.events_lazy import LazyEventsLog
from tidewire_ingest.routes_admin import router as admin_router
from tidewire_ingest.routes_commands import router as commands_router
from tidewire_ingest.routes_publish import router as publish_router
from tidewire_ingest.routes_queries import router as queries_router
from tidewire_ingest.routes_webhooks import router as webhooks_router
from tidewire_ingest.settings import IngestSettings
from tidewire_ingest.stores_lazy import LazyStores
from tidewire_ingest.tickets_known import KnownTickets
from tidewire_ingest.webhook_fast_path import WebhookFastPath
from tidewire_platform.metrics import READY
from tidewire_platform.settings import StackSettings


class ApiCors:
    """CORS for `/api` and `/admin` only: browsers on other origins call them with a bearer
    token, while `/metrics` and the probes stay unreadable to other origins' pages."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self._plain = app
        self._cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "PUT"],
            allow_headers=["authorization", "content-type", "idempotency-key"],
            expose_headers=["retry-after"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = scope["type"] == "http" and scope["path"].startswith(("/api/", "/admin/"))
        await (self._cors if api else self._plain)(scope, receive, send)


def create_server(
    settings: StackSettings | None = None, ingest: IngestSettings | None = None
) -> ASGIApp:
    """What `python -m tidewire_ingest` serves: the webhook's fast path in front of the app."""
    app = create_app(settings, ingest)
    return WebhookFastPath(app, app.state)


def create_app(
    settings: StackSettings | None = None, ingest: IngestSettings | None = None
) -> FastAPI:
    stack_settings = settings or StackSettings()
    log = KafkaCommandLog(stack_settings)
    stores = LazyStores(stack_settings)
    events = LazyEventsLog(stack_settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await log.close()
        await events.close()
        stores.close()

    app = FastAPI(
        title="tidewire ingest",
        version="0.1.0",
        lifespan=lifespan,
        # Metrics are Prometheus' (/metrics); FastAPI's native OpenTelemetry would otherwise
        # look up the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = stack_settings
    app.state.command_log = log
    app.state.ingest_settings = ingest or IngestSettings()
    app.state.stores = stores
    app.state.events = events
    app.state.known_tickets = KnownTickets()  # tickets found by agents' sends (no re-read)
    app.add_middleware(BodyLimit, state=app.state)  # before anything reads a body
    app.add_middleware(ApiCors, origins=app.state.ingest_settings.cors_origins)
    app.add_exception_handler(problems.Problem, problems.on_problem)
    app.add_exception_handler(RequestValidationError, problems.on_validation)
    app.add_exception_handler(StarletteHTTPException, problems.on_http)
    app.add_exception_handler(RecursionError, problems.on_too_deep)
    app.add_exception_handler(Exception, problems.on_unexpected)  # a 500 tells nothing
    for error in problems.STORE_ERRORS:  # Cassandra down or slow: a retryable 503
        app.add_exception_handler(error, problems.on_store_error)
    app.include_router(commands_router)
    app.include_router(webhooks_router)
    app.include_router(queries_router)
    app.include_router(admin_router)
    app.include_router(publish_router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        responses={503: {"description": "Kafka unreachable", "model": dict[str, str]}},
    )
    async def readyz(response: Response) -> dict[str, str]:
        ok = await log.ready()
        READY.set(int(ok))
        if ok:
            return {"status": "ready"}
        response.status_code = 503
        return {"status": "kafka unreachable"}

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                "description": "Prometheus text",
            }
        },
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
