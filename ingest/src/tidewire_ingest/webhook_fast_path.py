"""`POST /webhooks/whatsapp` served ahead of FastAPI's router.

The webhook is ingest's hot path (Meta's whole message volume). Under load, FastAPI's route
matching, dependency resolution and exception middleware cost several times what the handler
itself does (py-spy: the handler was about a tenth of the process). This ASGI app sits in
front of FastAPI, outside even its middleware stack (another third of a webhook's time), and
answers that one path directly with the same function the declared route uses
(`webhook_delivery.take_webhook`) and the same problem documents; everything else, including
lifespan events and the OpenAPI document that describes the route, goes to FastAPI
unchanged. Written by hand because it is a dispatch of one path, not something a library
offers.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tidewire_ingest.body import header, read_limited
from tidewire_ingest.problems import STORE_ERRORS, Problem, problem_response, store_unavailable
from tidewire_ingest.webhook_delivery import take_webhook

PATH = "/webhooks/whatsapp"

log = logging.getLogger("tidewire.ingest.webhook")

_JSON_HEADERS = [(b"content-type", b"application/json")]


class WebhookFastPath:
    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state  # the FastAPI app's state: settings, command log, stores

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        try:
            conf = self.state.ingest_settings
            raw = await read_limited(scope, receive, conf.webhook_max_body_bytes)
            tenants = await self.state.stores.tenants()
            signature = header(scope, b"x-hub-signature-256")
            delivery = await take_webhook(
                raw, signature, tenants, self.state.command_log, conf.webhook_max_phone_numbers
            )
        except ClientDisconnect:
            return  # nobody to answer, and nothing was written
        except Problem as exc:
            await _answer(scope, receive, exc)(scope, receive, send)
            return
        except STORE_ERRORS as exc:  # FastAPI's handlers are behind us too
            await _answer(scope, receive, store_unavailable(exc))(scope, receive, send)
            return
        except Exception:  # FastAPI's error middleware is behind us: answer as it would
            log.exception("webhook failed")
            response = problem_response(
                Request(scope, receive),
                500,
                "Internal error",
                "the webhook was not accepted; retry later",
            )
            await response(scope, receive, send)
            return
        # The success body, written directly: the same bytes JSONResponse would render.
        if delivery.dropped:
            body = json.dumps(delivery.wire(), ensure_ascii=False, separators=(",", ":")).encode()
        else:  # the usual answer, without building a dict to encode
            body = b'{"accepted":%d,"dropped":[]}' % delivery.accepted
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _answer(scope: Scope, receive: Receive, p: Problem) -> JSONResponse:
    return problem_response(
        Request(scope, receive), p.status, p.title, p.detail, p.headers, **p.extra
    )
