"""Tickets page cursors: Cassandra's paging state, sealed so that only what ingest handed out
ever reaches the driver.

A paging state is opaque bytes that Cassandra parses. A forged one (`?cursor=AAAA`) made
the node answer with a protocol error and the driver drop the connection and mark the host
down: for seconds, every tenant's read through that ingest was a 503. So a cursor carries a
MAC over the state and the query it pages (company and status), keyed from the process's
secret; anything else is a 400 without a query. Written by hand: a few lines of the
standard library's `hmac`, not worth a token library for an opaque string.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from tidewire_platform.read_models import BadPageCursor

_MAC_BYTES = 16
_MAX_CHARS = 4096  # paging states are a few dozen bytes


def cursor_key(secret: str) -> bytes:
    """The MAC key of page cursors, derived from the process's signing secret (every replica
    of ingest has the same one, so any of them takes a cursor another handed out)."""
    return hmac.digest(secret.encode(), b"tidewire tickets page cursor", "sha256")


def _mac(key: bytes, context: tuple[str, ...], state: bytes) -> bytes:
    message = "\x1f".join(context).encode() + b"\x1e" + state
    return hmac.digest(key, message, "sha256")[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: bytes, context: tuple[str, ...], state: bytes) -> str:
    """The cursor of paging state `state` of the query named by `context`."""
    return f"{_b64(state)}.{_b64(_mac(key, context, state))}"


def unseal(key: bytes, context: tuple[str, ...], cursor: str) -> bytes:
    """The paging state of a cursor `seal` made for the same query, or `BadPageCursor`."""
    state_text, dot, mac_text = cursor.partition(".")
    if not dot or len(cursor) > _MAX_CHARS or not cursor.isascii():
        raise BadPageCursor("not a tickets page cursor")
    try:
        state, mac = _unb64(state_text), _unb64(mac_text)
    except (binascii.Error, ValueError) as exc:
        raise BadPageCursor("not a tickets page cursor") from exc
    if not hmac.compare_digest(mac, _mac(key, context, state)):
        raise BadPageCursor("not a tickets page cursor of this query")
    return state
