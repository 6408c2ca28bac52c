"""One call of the WhatsApp Cloud API (Graph API): send a text message, and what the answer means.

Every answer becomes a `Verdict`, so the caller's retry loop never looks at HTTP:

- `Sent(wamid)`: 2xx with `messages[0].id`, the id WhatsApp's status webhooks will name;
- `Retry(reason, retry_after)`: worth another attempt later: 429, 5xx, a throttling error code
  Meta sends with other statuses, or no answer at all (connection refused, reset, timeout);
- `Refused(reason)`: asking again cannot help (bad token, unknown number, outside the customer
  service window, a 2xx without a message id).

Reasons read `"<code>: <message>"`, with Graph's error code and message when the body has them
and the HTTP status otherwise, because that is what an agent needs to see next to a failed
message. A timeout may hide a message Graph did accept (the API takes no idempotency key), so
retrying after one can, rarely, deliver twice; dropping it would lose messages more often.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
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


Verdict = Sent | Retry | Refused


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
    or None when it was not JSON)."""
    if 200 <= status < 300:
        wamid = _wamid(body)
        if wamid is not None:
            return Sent(wamid)
        # Graph may well have sent it: asking again could send it twice.
        return Refused(f"{status}: Graph API accepted the message without naming its id")
    reason = error_reason(status, body)
    # 408: the request timed out before Graph handled it, so asking again cannot send twice.
    if status in (408, 429) or status >= 500 or _error_code(body) in THROTTLING_CODES:
        return Retry(reason, retry_after_seconds(retry_after))
    return Refused(reason)


class GraphClient:
    """Sends text messages through the Graph API at `base_url` (e.g. .../v21.0) over a shared
    aiohttp session; the caller owns the session."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self._base = base_url.rstrip("/")
        self._http = session

    async def send_text(
        self, phone_number_id: str, access_token: str, to: str, body: str, timeout_s: float
    ) -> Verdict:
        """One attempt, never raising for what the network or the server did."""
        try:
            async with self._http.post(
                f"{self._base}/{phone_number_id}/messages",
                json=text_message(to, body),
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as resp:
                try:
                    parsed: Any = await resp.json(content_type=None)
                except ValueError:
                    parsed = None
                return classify(resp.status, parsed, resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Retry(f"network: {type(exc).__name__} {exc}".strip())
