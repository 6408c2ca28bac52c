"""`POST /webhooks/whatsapp` served ahead of FastAPI's router.

The webhook is ingest's hot path (Meta's whole message volume). Under load, FastAPI's route
matching, dependency resolution and exception middleware cost several times what the handler
itself does (py-spy: the handler was about a tenth of the process). This ASGI app sits in
front of FastAPI, outside even its middleware stack (another third of a webhook's time), and
answers that one path directly with the same function the declared route uses
(`routes_webhooks.take_webhook`) and the same problem documents; everything else, including
lifespan events and the OpenAPI document that describes the route, goes to FastAPI
unchanged. Written by hand because it is a dispatch of one path, not something a library
offers.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tidewire_ingest.problems import STORE_ERRORS, Problem, problem_response, store_unavailable
from tidewire_ingest.routes_webhooks import take_webhook

PATH = "/webhooks/whatsapp"

log = logging.getLogger("tidewire.ingest.webhook")


class WebhookFastPath:
    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state  # the FastAPI app's state: settings, command log, stores

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            tenants = await self.state.stores.tenants()
            result = await take_webhook(
                request, self.state.ingest_settings, tenants, self.state.command_log
            )
            response = JSONResponse(result)
        except Problem as exc:
            response = _answer(request, exc)
        except STORE_ERRORS as exc:  # FastAPI's handlers are behind us too
            response = _answer(request, store_unavailable(exc))
        except Exception:  # FastAPI's error middleware is behind us: answer as it would
            log.exception("webhook failed")
            response = problem_response(
                request, 500, "Internal error", "the webhook was not accepted; retry later"
            )
        await response(scope, receive, send)


def _answer(request: Request, p: Problem) -> JSONResponse:
    return problem_response(request, p.status, p.title, p.detail, p.headers, **p.extra)
