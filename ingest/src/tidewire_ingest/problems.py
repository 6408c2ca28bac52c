"""RFC 9457 problem details: every refusal says what is wrong in a machine-readable body."""

from __future__ import annotations

import logging
from typing import Any

from cassandra import OperationTimedOut, RequestExecutionException
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from tidewire_platform.metrics import INGEST_REJECTED

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger("tidewire.ingest")


class ProblemDetails(BaseModel):
    """The body of every refusal (RFC 9457), as the OpenAPI document describes it."""

    model_config = ConfigDict(extra="allow")  # 422 adds `errors`: every field at fault

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str


# Headers that come with a refusal, as the OpenAPI document declares them.
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}
BEARER_CHALLENGE = {
    "WWW-Authenticate": {"description": "`Bearer`: send a token", "schema": {"type": "string"}}
}


def documented(
    headers: dict[int, dict[str, Any]] | None = None, **descriptions: str
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for problem documents: `documented(r404="no such ticket")`. Every
    503 declares its Retry-After; `headers` adds others by status."""
    schema = ProblemDetails.model_json_schema()
    out: dict[int | str, dict[str, Any]] = {}
    for code, text in descriptions.items():
        status = int(code.lstrip("r"))
        response: dict[str, Any] = {
            "description": text,
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        extra = {**(_RETRY_AFTER if status == 503 else {}), **(headers or {}).get(status, {})}
        if extra:
            response["headers"] = extra
        out[status] = response
    return out


# Refusals any JSON route of the API can answer, whatever it does.
COMMON = documented(
    headers={401: BEARER_CHALLENGE},
    r400="malformed JSON",
    r401="missing, wrong or expired JWT (Authorization: Bearer)",
    r413="body over the configured limit",
    r422="request violates the schema; `errors` names every field",
)


class Problem(Exception):
    """Raise to answer with a problem document (and write nothing)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers, self.extra = (
            status,
            title,
            detail,
            headers or {},
            extra,
        )


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    INGEST_REJECTED.labels(str(status)).inc()
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(request, exc.status, exc.title, exc.detail, exc.headers, **exc.extra)


async def on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    broken = next((e for e in errors if e["type"] == "json_invalid"), None)
    if broken is not None:  # not JSON at all: a malformed request, not a schema violation
        return problem_response(
            request, 400, "Malformed JSON", f"body is not valid JSON: {broken['msg']}"
        )
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    detail = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return problem_response(
        request, 422, "Request does not match the schema", detail, errors=errors
    )


async def on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(request, exc.status_code, str(exc.detail), str(exc.detail))


# Cassandra errors that say "not now" (a node down or slow), as opposed to a bad request.
STORE_ERRORS: tuple[type[Exception], ...] = (
    RequestExecutionException,  # unavailable, read/write timeouts and failures
    OperationTimedOut,
    NoHostAvailable,
    ConnectionException,
)


def unavailable(title: str, detail: str, exc: BaseException) -> Problem:
    """A retryable 503 (Retry-After) whose body says what failed in the terms of the API; the
    exception itself, which names internal hosts and addresses, goes to the log only."""
    log.warning("503 %s: %r", title, exc)
    return Problem(503, title, detail, headers={"Retry-After": "5"})


def store_unavailable(exc: Exception) -> Problem:
    """Cassandra failed a request (timeout, node down): a retryable 503, never a 500."""
    return unavailable(
        "Store unavailable", "Cassandra did not answer in time; nothing was done, retry later", exc
    )


async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
    return await on_problem(request, store_unavailable(exc))


async def on_too_deep(request: Request, exc: Exception) -> JSONResponse:
    """JSON nested deeper than the parser follows: malformed for us, never a 500."""
    return problem_response(request, 400, "Malformed JSON", "body nests too deeply")


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: a problem document that says nothing of it (the traceback goes to the log, where
    the server logs every unhandled exception), instead of Starlette's plain-text page."""
    return problem_response(
        request, 500, "Internal error", "the request failed on our side; nothing was accepted"
    )
