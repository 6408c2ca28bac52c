"""What one Graph API call means: answers, and calls that never got one (classification)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tidewire_outbound.graph_api import (
    GraphClient,
    Refused,
    Retry,
    Sent,
    Unknown,
    classify,
    error_reason,
    failure,
    retry_after_seconds,
    tracing,
)

pytestmark = pytest.mark.unit


def _graph_error(code: int, message: str = "boom") -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code}}


# -- classify: what one answer means ----------------------------------------------------------


def test_2xx_with_a_message_id_is_sent() -> None:
    body = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.A"}]}
    assert classify(200, body) == Sent("wamid.A")


def test_2xx_without_a_message_id_is_unknown_not_retried() -> None:
    # Graph may have sent it: another attempt could reach the customer twice.
    bodies: list[Any] = [{}, {"messages": []}, {"messages": [{"id": ""}]}, None]
    for body in bodies:
        assert isinstance(classify(200, body), Unknown)


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried_with_the_servers_retry_after(status: int) -> None:
    verdict = classify(status, _graph_error(130429, "Rate limit hit"), "7")
    assert verdict == Retry("130429: Rate limit hit", 7.0)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unknown_never_retried(status: int) -> None:
    """Graph may have accepted the message before failing: a blind resend could reach the
    customer twice."""
    verdict = classify(status, _graph_error(131000, "Something went wrong"), "7")
    assert verdict == Unknown("unknown: 131000: Something went wrong")


@pytest.mark.parametrize("code", [4, 80007, 130429, 131056])
def test_throttling_codes_are_retried_whatever_the_status(code: int) -> None:
    assert isinstance(classify(400, _graph_error(code)), Retry)


@pytest.mark.parametrize(
    ("status", "code"), [(400, 131026), (401, 190), (403, 10), (404, 100), (400, 131047)]
)
def test_other_4xx_are_refused_with_graphs_code_and_message(status: int, code: int) -> None:
    assert classify(status, _graph_error(code, "nope")) == Refused(f"{code}: nope")


def test_a_body_that_is_not_a_graph_error_is_named_by_its_status() -> None:
    assert error_reason(418, None) == "418: HTTP 418 from the Graph API"
    assert error_reason(400, {"error": "flat"}) == "400: HTTP 400 from the Graph API"
    assert error_reason(400, {"error": {"message": "m"}}) == "400: m"
    assert classify(502, "<html>bad gateway</html>") == Unknown(
        "unknown: 502: HTTP 502 from the Graph API"
    )


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds("0") == 0.0
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(later, now=now.timestamp()) == 30.0
    assert retry_after_seconds(format_datetime(now, usegmt=True), now.timestamp() + 9) == 0.0
    for unreadable in (None, "", "soon"):
        assert retry_after_seconds(unreadable) is None


def test_a_call_that_failed_before_its_request_left_is_a_retry() -> None:
    verdict = failure(ConnectionRefusedError(111, "Connect call failed"), request_left=False)
    assert isinstance(verdict, Retry)
    assert verdict.reason.startswith("network: ")
    assert verdict.retry_after is None


def test_a_call_that_failed_after_its_request_left_is_unknown() -> None:
    for exc in (TimeoutError(), aiohttp.ServerDisconnectedError(), ConnectionResetError(104)):
        verdict = failure(exc, request_left=True)
        assert isinstance(verdict, Unknown)
        assert verdict.reason.startswith("unknown: no answer from the Graph API after sending")


# -- real calls against a local server --------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _call(base_url: str, timeout_s: float = 5.0) -> Any:
    async with aiohttp.ClientSession(trace_configs=[tracing()]) as http:
        return await GraphClient(base_url, http).send_text("pn1", "tok", "5511", "olá", timeout_s)


@contextlib.asynccontextmanager
async def _serving(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v21.0/{phone}/messages", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v21.0"
    finally:
        await runner.cleanup()


async def test_connection_refused_is_a_retry() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    verdict = await _call(f"http://127.0.0.1:{port}/v21.0/", timeout_s=2)
    assert isinstance(verdict, Retry)
    assert verdict.reason.startswith("network: ")


async def test_accepted_then_500_is_unknown() -> None:
    received: list[Any] = []

    async def accept_then_fail(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response(_graph_error(131000, "Something went wrong"), status=500)

    async with _serving(accept_then_fail) as base:
        verdict = await _call(base)
    assert verdict == Unknown("unknown: 131000: Something went wrong")
    assert len(received) == 1


async def test_no_answer_within_the_timeout_is_unknown() -> None:
    received: list[Any] = []
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        received.append(await request.json())
        await release.wait()
        return web.json_response({"messages": [{"id": "wamid.late"}]})

    async with _serving(hang) as base:
        verdict = await _call(base, timeout_s=0.5)
        release.set()
    assert isinstance(verdict, Unknown)
    assert "after sending" in verdict.reason
    assert len(received) == 1


async def test_connection_dropped_without_an_answer_is_unknown() -> None:
    async def drop(request: web.Request) -> web.StreamResponse:
        await request.read()
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async with _serving(drop) as base:
        verdict = await _call(base)
    assert isinstance(verdict, Unknown)


async def test_an_answer_is_classified_by_its_status() -> None:
    async def rate_limited(request: web.Request) -> web.Response:
        return web.json_response(
            _graph_error(130429, "Rate limit hit"), status=429, headers={"Retry-After": "3"}
        )

    async with _serving(rate_limited) as base:
        verdict = await _call(base)
    assert verdict == Retry("130429: Rate limit hit", 3.0)
