"""WhatsApp Cloud API webhooks: verified, routed to the tenant, made durable, then 200.

Meta delivers at least once and retries for days while we do not answer 2xx, so we answer 200
only after every fact of the payload is acknowledged by Kafka. Anything we refuse is written
nowhere. Decision on unknown `phone_number_id`: 404, not 200-and-drop: it means a
misconfigured tenant, and Meta's retries keep the facts until the tenant is added.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from tidewire_ingest.accept import accept
from tidewire_ingest.body import parse_json, read_limited
from tidewire_ingest.command_log import CommandLog
from tidewire_ingest.deps import Commands, IngestConf, Tenants
from tidewire_ingest.problems import Problem, documented
from tidewire_ingest.signature import signature_valid, signature_well_formed
from tidewire_ingest.whatsapp import (
    WebhookFact,
    WebhookSchemaError,
    parse_webhook,
    phone_number_ids,
)
from tidewire_platform.contracts import Command, stable_id, valid_id
from tidewire_platform.tenants import TenantStore

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_RESPONSES = documented(
    r400="malformed JSON",
    r401="missing, malformed or wrong X-Hub-Signature-256",
    r404="no tenant owns this phone_number_id",
    r413="body over the configured limit",
    r422="payload violates the webhook schema; `detail` names the field",
    r503="Kafka did not acknowledge; retry (Retry-After)",
)


@router.get(
    "/whatsapp",
    response_class=PlainTextResponse,
    responses=documented(
        r403="hub.mode is not 'subscribe' or no connection has this verify token",
        r422="a hub.* parameter is missing",
    ),
)
async def verify(
    tenants: Tenants,
    mode: Annotated[str, Query(alias="hub.mode")],
    token: Annotated[str, Query(alias="hub.verify_token")],
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=512)],
) -> str:
    """Meta's subscription handshake: echo the challenge if a tenant owns the verify token."""
    if mode != "subscribe" or not await tenants.connections_for_verify_token(token):
        raise Problem(
            403,
            "Verification failed",
            "hub.mode must be 'subscribe' and "
            "hub.verify_token must match a connection's verify token",
        )
    return challenge


def command_for(company_id: str, fact: WebhookFact) -> Command:
    """The command of one fact; its id depends only on the source, so Meta's redeliveries
    produce the same id and are deduplicated downstream."""
    return Command(
        id=stable_id(company_id, "whatsapp", fact.type, fact.phone_number_id, fact.source_id),
        type=fact.type,
        company_id=company_id,
        payload={
            **fact.payload,
            "phone_number_id": fact.phone_number_id,
            "contact_wa_id": fact.contact_wa_id,
            "occurred_at": fact.occurred_at,
        },
    )


def _parse(body: object) -> list[WebhookFact]:
    try:
        return parse_webhook(body)
    except WebhookSchemaError as exc:
        raise Problem(422, "Request does not match the schema", f"{exc.loc}: {exc}") from exc


# The route reads its raw body itself (the signature covers the exact bytes), so FastAPI
# cannot infer what it takes: declared here for the OpenAPI document.
_REQUEST = {
    "parameters": [
        {
            "name": "X-Hub-Signature-256",
            "in": "header",
            "required": True,
            "description": "`sha256=` and the hex HMAC-SHA256 of the raw body with the app secret",
            "schema": {"type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$"},
        }
    ],
    "requestBody": {
        "required": True,
        "description": "A WhatsApp Cloud API webhook (`object`, `entry[].changes[]`)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["object", "entry"],
                    "properties": {
                        "object": {"type": "string", "enum": ["whatsapp_business_account"]},
                        "entry": {"type": "array", "items": {"type": "object"}},
                    },
                }
            }
        },
    },
}


@router.post("/whatsapp", responses=_RESPONSES, openapi_extra=_REQUEST)
async def receive(
    request: Request, conf: IngestConf, tenants: Tenants, log: Commands
) -> dict[str, int]:
    """Declared here for the OpenAPI document; requests are served by `webhook_fast_path`,
    which calls `take_webhook` without FastAPI's routing and dependency machinery."""
    raw = await read_limited(request.scope, request.receive, conf.max_body_bytes)
    signature = request.headers.get("x-hub-signature-256")
    return {"accepted": await take_webhook(raw, signature, tenants, log)}


async def take_webhook(
    raw: bytes, signature: str | None, tenants: TenantStore, log: CommandLog
) -> int:
    """Verify, route and accept one webhook delivery (its raw body and signature header);
    the number of commands accepted, or `Problem` for a refusal."""
    body = parse_json(raw)
    if not signature:
        raise Problem(401, "Signature missing", "X-Hub-Signature-256 header is required")
    if not signature_well_formed(signature):
        raise Problem(
            401, "Signature malformed", "X-Hub-Signature-256 must be 'sha256=' and 64 hex digits"
        )
    phones = phone_number_ids(body)
    if not phones:
        # Only non-message changes (account updates and the like): nothing to route, so no
        # tenant's app secret to check the signature with, and nothing to write. Well-formed
        # ones get 200 so Meta stops retrying; broken ones get 422.
        _parse(body)
        return 0
    companies: dict[str, str] = {}
    for phone in sorted(phones):
        # An id no tenant could have registered is not worth a lookup (and a huge one is a
        # key Cassandra refuses); the answer is the same either way.
        conn = await tenants.connection_for_phone(phone) if valid_id(phone) else None
        if conn is None:
            shown = phone if len(phone) <= 80 else f"{phone[:80]}…"
            raise Problem(404, "Unknown phone number", f"no tenant owns phone_number_id {shown!r}")
        if not signature_valid(raw, signature, conn.app_secret):
            raise Problem(
                401,
                "Bad signature",
                "X-Hub-Signature-256 does not match the body and the app secret",
            )
        companies[phone] = conn.company_id
    facts = _parse(body)
    commands = [command_for(companies[f.phone_number_id], f) for f in facts]
    await accept(log, commands)
    return len(commands)
