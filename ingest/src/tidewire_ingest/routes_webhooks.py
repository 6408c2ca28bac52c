"""WhatsApp Cloud API webhooks: the subscription handshake, and deliveries as the OpenAPI
document describes them (served by `webhook_fast_path`, taken by `webhook_delivery`).

Meta delivers at least once and retries for days while we do not answer 2xx, so we answer 200
only after every accepted fact of the payload is acknowledged by Kafka. A delivery is taken per
phone number: one unknown, wrongly signed or broken part drops that part only, and the answer
names it. An unknown `phone_number_id` alone is 401, like a bad signature: a misconfigured
tenant shows in the logs and `tidewire_ingest_webhook_parts_refused_total`, and Meta's retries
keep the facts until the tenant is added.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from tidewire_ingest.body import read_limited
from tidewire_ingest.deps import Commands, IngestConf, Tenants
from tidewire_ingest.problems import Problem, documented
from tidewire_ingest.webhook_delivery import command_for as command_for
from tidewire_ingest.webhook_delivery import take_webhook

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_RESPONSES = documented(
    r400="malformed JSON",
    r401="missing or malformed X-Hub-Signature-256, or no phone number the delivery names is "
    "owned by a tenant whose app secret signs it",
    r413="body over the webhook limit, or every part holds a command no record can hold",
    r422="not a webhook, more phone numbers than allowed, or every verified part violates the "
    "schema (`detail` names the field; `dropped` lists the parts)",
    r503="Kafka did not acknowledge; nothing of the delivery counts as accepted, retry "
    "(Retry-After)",
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


class DroppedPart(BaseModel):
    """A part of a delivery that was not accepted. `unverified`: no tenant owns the number or
    its app secret does not sign the body (the two are not told apart); `invalid`: the change
    violates the webhook schema (`loc`, `detail`); `unwritable`: a command of it no record can
    hold."""

    phone_number_id: str | None
    reason: Literal["unverified", "invalid", "unwritable"]
    loc: str | None = None
    detail: str | None = None


class WebhookAccepted(BaseModel):
    """Commands made durable, and the parts dropped (Meta does not send those again)."""

    accepted: int
    dropped: list[DroppedPart]


@router.post(
    "/whatsapp",
    response_model=WebhookAccepted,
    responses={
        200: {"description": "the accepted parts are durable; `dropped` names the others"},
        **_RESPONSES,
    },
    openapi_extra=_REQUEST,
)
async def receive(
    request: Request, conf: IngestConf, tenants: Tenants, log: Commands
) -> JSONResponse:
    """Declared here for the OpenAPI document; requests are served by `webhook_fast_path`,
    which calls `take_webhook` without FastAPI's routing and dependency machinery (and
    answers the same body as this)."""
    raw = await read_limited(request.scope, request.receive, conf.webhook_max_body_bytes)
    signature = request.headers.get("x-hub-signature-256")
    delivery = await take_webhook(raw, signature, tenants, log, conf.webhook_max_phone_numbers)
    return JSONResponse(delivery.wire())
