"""Ingest-only settings (`TIDEWIRE_INGEST_*`); the shared ones live in the kernel."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    """ingest's bounds on what one request may cost, and who may call it from a browser."""

    model_config = SettingsConfigDict(env_prefix="TIDEWIRE_INGEST_", extra="ignore")

    # Meta's webhook bodies are a few KiB; a megabyte leaves room for large batches while
    # bounding what one request can make us buffer.
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="largest request body on every route but the webhook (declared length or "
        "counted while read); larger ones get 413",
    )
    # Browser front ends on other origins (a Whaticket front end, the SDK's demo inbox) call
    # `/api` with a bearer token, never with cookies, so any origin may by default: a page
    # cannot send a token it does not hold. A JSON list narrows it (`["https://app.example"]`).
    cors_origins: list[str] = Field(
        ["*"],
        description="origins whose pages may call `/api` and `/admin` (a JSON list; `/metrics` "
        "and the probes stay same-origin). Any by default: the API takes bearer tokens, never "
        "cookies, so a page can only send a token it holds",
    )
    # Meta documents webhook payloads of up to 3 MB: a limit of their own, separate from the
    # agent API's, so a large batch from Meta is never refused whole (every tenant's part of
    # it would be lost once Meta gave up retrying).
    webhook_max_body_bytes: int = Field(
        3 * 1024 * 1024,
        ge=1024,
        description="largest POST /webhooks/whatsapp body; larger ones get 413",
    )
    # Each phone number a delivery names costs a tenant lookup and, per distinct app secret,
    # an HMAC of the whole body, before the sender is known to be Meta: bounded per request.
    webhook_max_phone_numbers: int = Field(
        100,
        ge=1,
        description="most distinct phone_number_ids one webhook delivery may name; more get 422",
    )
    # Gateway mode: one publication's `data`, encoded, and publications per request. Meta's
    # and Whaticket's payloads are a few KiB; the bound keeps one event far below Kafka's
    # record limit and what an edge holds per event.
    max_publication_bytes: int = Field(
        256 * 1024, ge=1024, description="largest publication (encoded); larger ones get 413"
    )
    max_publications: int = Field(
        500, ge=1, le=10_000, description="most publications per POST /api/publish; more get 413"
    )
    # `GET /api/events`: a page ends before the event that would take it past this many bytes
    # (events as stored in the log); its first event always comes. A page is decoded and
    # answered in memory: a megabyte is 1/512 of ingest's 512 MiB Helm memory limit.
    events_page_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="bytes of events (as stored) after which a GET /api/events page stops",
    )
    # `GET /api/events` without `after` starts this many records (of the company's partition,
    # shared with other companies) before the log's end, not at its oldest record: a read
    # without a cursor never scans the whole retention. A full history needs a cursor
    # (`/api/events/head` before loading snapshots).
    events_window: int = Field(
        20_000,
        ge=1,
        description="records before the end of the partition where GET /api/events "
        "without `after` starts",
    )
