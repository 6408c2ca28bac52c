"""One call of the WhatsApp Cloud API (Graph API): send a text message, and what the answer means.

Graph takes no idempotency key, so what matters about a failed call is whether the request
may have reached Graph. Every call becomes a `Verdict`, so the sender never looks at HTTP:

- `Sent(wamid)`: 2xx with `messages[0].id`, the id WhatsApp's status webhooks will name;
- `Retry(reason, retry_after)`: provably not sent, worth another attempt later: the connection
  could not be opened (refused, DNS, connect timeout: the request never left), 429, 408, or a
  Graph error body with a throttling code (Graph answered that it did not take it);
- `Refused(reason)`: Graph answered with an error, so it did not send it, and asking again
  cannot help (bad token, unknown number, outside the customer service window);
- `Unknown(reason)`: the request left and no trustworthy answer came back: a timeout after
  sending, the connection dropped mid-call, a 5xx (Graph may have accepted the message before
  failing), or a 2xx without a message id. Sending again could reach the customer twice.

Reasons read `"<code>: <message>"`, with Graph's error code and message when the body has them
and the HTTP status otherwise, because that is what an agent needs to see next to the message.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp

# Graph error codes that mean "too much, slow down", whatever the HTTP status says:
# 4 application request limit, 80007 WABA rate limit, 130429 Cloud API throughput,
# 131056 too many messages to the same customer.
THROTTLING_CODES = frozenset({4, 80007, 130429, 131056})


@dataclass(frozen=True)
class Sent:
    wamid: str


@dataclass(frozen=True)
class Retry:
    reason: str
    retry_after: float | None = None  # seconds the server asked us to wait


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Unknown:
    reason: str


Verdict = Sent | Retry | Refused | Unknown


def text_message(to: str, body: str) -> dict[str, Any]:
    """The request body of a plain text message to the customer `to` (a WhatsApp id)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    }


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A `Retry-After` header as seconds from `now` (epoch seconds): delta-seconds or an
    HTTP date. None when absent or unreadable; never negative."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_reason(status: int, body: Any) -> str:
    """`"<code>: <message>"` from a Graph error body, or from the HTTP status without one."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        if isinstance(message, str) and message:
            return f"{code if isinstance(code, int) else status}: {message}"
    return f"{status}: HTTP {status} from the Graph API"


def _error_code(body: Any) -> int | None:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


def _wamid(body: Any) -> str | None:
    messages = body.get("messages") if isinstance(body, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    wamid = first.get("id") if isinstance(first, dict) else None
    return wamid if isinstance(wamid, str) and wamid else None


def classify(status: int, body: Any, retry_after: str | None = None) -> Verdict:
    """What one HTTP answer of the send-message call means (pure; `body` is the parsed JSON,
    or None when it was not JSON or could not be read)."""
    if 200 <= status < 300:
        wamid = _wamid(body)
        if wamid is not None:
            return Sent(wamid)
        # Graph may well have sent it: asking again could send it twice.
        return Unknown(f"unknown: {status} from the Graph API without the message's id")
    reason = error_reason(status, body)
    # 408: the request timed out before Graph handled it; 429 and throttling codes: Graph says
    # it did not take it. Either way asking again cannot send twice.
    if status in (408, 429) or _error_code(body) in THROTTLING_CODES:
        return Retry(reason, retry_after_seconds(retry_after))
    if status >= 500:
        return Unknown(f"unknown: {reason}")
    return Refused(reason)


def failure(exc: BaseException, request_left: bool) -> Verdict:
    """What a call that raised instead of answering means: before the request's first bytes
    were handed to the connection nothing can have reached Graph (retry); after, it may have."""
    what = f"{type(exc).__name__} {exc}".strip()
    if not request_left:
        return Retry(f"network: {what}")
    return Unknown(f"unknown: no answer from the Graph API after sending ({what})")


class _Call:
    """What one call did so far, filled in by the session's trace hooks."""

    def __init__(self) -> None:
        self.request_left = False


async def _request_left(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    call = ctx.trace_request_ctx
    if isinstance(call, _Call):
        call.request_left = True


def tracing() -> aiohttp.TraceConfig:
    """The trace hooks `GraphClient` needs on its session: whether a request left."""
    config = aiohttp.TraceConfig()
    config.on_request_headers_sent.append(_request_left)
    return config


class GraphClient:
    """Sends text messages through the Graph API at `base_url` (e.g. .../v21.0) over a shared
    aiohttp session made with `tracing()` among its trace configs; the caller owns it."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self._base = base_url.rstrip("/")
        self._http = session

    async def send_text(
        self, phone_number_id: str, access_token: str, to: str, body: str, timeout_s: float
    ) -> Verdict:
        """One attempt, never raising for what the network or the server did."""
        call = _Call()
        status: int | None = None
        try:
            async with self._http.post(
                f"{self._base}/{phone_number_id}/messages",
                json=text_message(to, body),
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                trace_request_ctx=call,
            ) as resp:
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                try:
                    parsed: Any = await resp.json(content_type=None)
                except ValueError:
                    parsed = None
                except (aiohttp.ClientError, TimeoutError):
                    # The status came, the body did not: the status still says what happened.
                    parsed = None
                return classify(status, parsed, retry_after)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return failure(exc, call.request_left)
