"""Reading a request body with a size limit, before anything else looks at it.

On ASGI primitives rather than Starlette's `Request`: the webhook's fast path reads its body
here without building one (a measurable share of a webhook's CPU under load).
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from tidewire_ingest.problems import Problem


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower-case bytes), decoded as Latin-1."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def content_length(scope: Scope) -> int | None:
    """The declared body size, or None if absent or not a plain number."""
    declared = header(scope, b"content-length")
    if declared is None or not (declared.isascii() and declared.isdigit()):
        return None  # ASCII digits only: str.isdigit() also accepts '²', which int() refuses
    return int(declared)


async def read_limited(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The raw body, or 413 as soon as it is known to exceed `limit` (header or stream);
    `ClientDisconnect` if the client leaves before sending all of it."""
    declared = content_length(scope)
    if declared is not None and declared > limit:
        raise Problem(413, "Payload too large", f"body of {declared} bytes exceeds {limit}")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Payload too large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: valid JSON, but no double holds it (stored as null later)
        raise ValueError(f"{text} is beyond what a double holds")
    return value


# Python's parser also takes NaN and Infinity (stored later as null) and UTF-16/32 bodies;
# RFC 8259 allows neither, and Meta sends neither (a UTF-8 byte order mark is tolerated).
# Built once: `json.loads` with options would build a decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite)


def parse_json(raw: bytes) -> Any:
    try:
        return _DECODER.decode(raw.decode("utf-8-sig"))
    except ValueError as exc:  # bad JSON or UTF-8, and integers longer than Python converts
        raise Problem(400, "Malformed JSON", f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # nested deeper than the parser can follow
        raise Problem(400, "Malformed JSON", "body nests too deeply to be a webhook") from exc
