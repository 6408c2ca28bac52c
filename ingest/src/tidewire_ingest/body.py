"""Reading a request body with a size limit, before anything else looks at it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from tidewire_ingest.problems import Problem


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, or 413 as soon as it is known to exceed `limit` (header or stream)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Payload too large", f"body of {declared} bytes exceeds {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Payload too large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:  # bad JSON or UTF-8, and integers longer than Python converts
        raise Problem(400, "Malformed JSON", f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # nested deeper than the parser can follow
        raise Problem(400, "Malformed JSON", "body nests too deeply to be a webhook") from exc
